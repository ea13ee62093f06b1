"""The HTTP server inside the daemon: uvicorn in a thread, started and stopped with it.

The socket is bound here, before the server starts, so an address in use or
not ours is a clear error at start, not a silent thread exit.
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn

from jobrunner.logs import event
from jobrunner.web import app
from jobrunner.web.address import Address
from jobrunner.web.host import Host

STOP_WAIT = 5  # seconds for open requests to end at shutdown


class CannotListen(OSError):
    """The address cannot be bound (in use, not an address of this host, no permission)."""


class HttpServer:
    def __init__(self, address: Address, *, cluster: bool) -> None:
        self.address, self.cluster = address, cluster
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: Host) -> None:
        """Bind and serve in a thread; `CannotListen` if the address cannot be bound."""
        sock = _bind(self.address)
        config = uvicorn.Config(
            app.build(host, cluster=self.cluster, exposed=not self.address.loopback),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=STOP_WAIT,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="jobrunner-http", daemon=True
        )
        self._thread.start()
        event(logging.INFO, "serving HTTP", address=str(self.address))

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(STOP_WAIT + 1)


def _bind(address: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every keep-alive answer after the first waits ~40 ms (Nagle against
    # the client's delayed ACK: uvicorn writes the head and the body apart).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address.host, address.port))
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
