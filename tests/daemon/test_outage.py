"""A storage outage never stops a daemon: a jobs.d edit made while Redis is down for 30 s is
applied once Redis is back."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from daemon_proc import Daemon
from servers import RedisServer
from test_daemon_notify import received

OUTAGE = 30.0  # seconds: longer than any lease, backoff or timeout of the daemon

JOBS = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:record'}}\n"


def test_an_edit_during_a_redis_outage_is_applied_after_it(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(JOBS)
    server = RedisServer(tmp_path)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    daemon = Daemon(jobs, server.url, "--lease", "3s", log=tmp_path / "daemon.log", env=env)
    daemon.start()
    try:
        received(notify, "READY=1")
        server.stop()
        down = time.monotonic()
        [status] = [m for m in received(notify, "degraded") if "degraded" in m]
        assert "STATUS=generation 1, 1 queues served, 0 cron entries, degraded: storage " in status
        assert "unreachable since 20" in status
        (jobs / "work.yaml").write_text(JOBS.replace("}}", "}, concurrency: 3}"))
        daemon.wait_for(
            lambda e: e.get("msg", "").startswith("reload waits for the storage"),
            what="the reload to wait for the storage",
        )
        while time.monotonic() < down + OUTAGE:  # reading the socket as systemd does
            with contextlib.suppress(TimeoutError):
                notify.settimeout(max(0.01, down + OUTAGE - time.monotonic()))
                notify.recv(4096)
        assert daemon.process is not None and daemon.process.poll() is None
        server = RedisServer(tmp_path, port=server.port)
        change = daemon.wait_for(
            lambda e: e.get("msg") == "plan: ~ queue work: concurrency 1 → 3",
            what="the edit applied after the outage",
            timeout=30,
        )
        assert change["generation"] == 1  # the new server starts empty: the first it publishes
        assert daemon.process.poll() is None
        assert any("healthy" in m for m in received(notify, ", healthy"))
    finally:
        assert daemon.stop() == 0
        server.stop()
        notify.close()
