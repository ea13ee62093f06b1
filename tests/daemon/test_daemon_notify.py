"""The daemon speaks systemd's notify protocol on a socket made here (Type=notify)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from daemon_proc import Daemon


def received(sock: socket.socket, until: str, timeout: float = 15.0) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in messages[-1]:
            return messages
    raise AssertionError(f"no {until!r} among {messages}")


def test_ready_status_watchdog_reload_and_stopping(tmp_path: Path, jobs_dir: Any) -> None:
    jobs = jobs_dir(
        **{
            "a.yaml": "version: 1\ncron:\n  c: {every: 1h, handler: shell, "
            'params: {command: ["true"]}}\n'
        }
    )
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        daemon = Daemon(
            jobs,
            f"sqlite:///{tmp_path / 's.db'}",
            log=tmp_path / "d.log",
            env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"},
        )
        daemon.start()
        ready = received(sock, "READY=1")
        assert any("STATUS=generation 1" in m for m in ready)
        pings = received(sock, "WATCHDOG=1")
        assert pings
        daemon.signal(signal.SIGHUP)
        reload = received(sock, "READY=1")
        assert any(m.startswith("RELOADING=1\nMONOTONIC_USEC=") for m in reload)
        daemon.signal(signal.SIGTERM)
        assert received(sock, "STOPPING=1")
        assert daemon.process is not None and daemon.process.wait(20) == 0
    assert os.environ.get("NOTIFY_SOCKET") is None  # the test's own process is untouched
