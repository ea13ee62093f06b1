"""systemd's service notification protocol (sd_notify), by hand.

A unit with `Type=notify` hands the service a datagram socket in
`$NOTIFY_SOCKET` (a path, or an abstract socket when it starts with `@`);
the service sends newline-separated `KEY=value` fields to it: `READY=1` once
it serves, `STATUS=…` for `systemctl status`, `WATCHDOG=1` pings when the unit
has `WatchdogSec=`, `RELOADING=1` and `STOPPING=1` around a reload and a stop.
The protocol is one `sendto` per message, so it lives here instead of in a
dependency (the `sdnotify` package has not been maintained since 2017).

Outside systemd (no `$NOTIFY_SOCKET`) every method does nothing. A failed send
never raises, and a send never waits (a full socket drops the message): the
daemon's work matters more than telling systemd about it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

from jobrunner.logs import event


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._failed = False

    @property
    def enabled(self) -> bool:
        """Whether systemd listens (the service runs under `Type=notify`)."""
        return self._address is not None

    def ready(self) -> bool:
        """Startup finished, or a reload did: systemd may consider the unit active."""
        return self.send("READY=1")

    def reloading(self) -> bool:
        """A reload starts; send `ready()` when it ends.

        `MONOTONIC_USEC` (the CLOCK_MONOTONIC time of the request) is what
        systemd 253+ expects from `Type=notify-reload` services; older
        versions ignore it.
        """
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        """Shutdown starts: systemd shows the unit as deactivating."""
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        """One line for `systemctl status` (newlines would end the field)."""
        return self.send("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> bool:
        """Tell the watchdog the service is alive."""
        return self.send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between `watchdog()` pings (half of `WatchdogSec=`); None: no watchdog."""
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None  # the watchdog is meant for another process (e.g. our parent)
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2_000_000 if usec > 0 else None

    def send(self, *fields: str) -> bool:
        """Send `fields` in one datagram; whether systemd got it (False when not listening)."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never wait: a listener that stopped reading (its queue holds only
                # net.unix.max_dgram_qlen datagrams, 10 by default) must not hang the main loop.
                sock.sendto("\n".join(fields).encode(), socket.MSG_DONTWAIT, self._address)
        except OSError as exc:
            if not self._failed:  # once: a ping every few seconds must not flood the log
                self._failed = True
                event(logging.DEBUG, "could not notify systemd", error=str(exc))
            return False
        return True


def _address(value: str) -> str | bytes | None:
    """The socket address `$NOTIFY_SOCKET` names; None when unset or unusable."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # unset, or a kind we do not speak (e.g. systemd 254's vsock:)
