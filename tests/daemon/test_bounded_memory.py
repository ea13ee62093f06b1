"""Memory stays bounded whatever a handler prints: an isolated handler that prints 400 MB
raises the daemon's peak RSS by less than 20 MB (its output is streamed, only a tail kept)."""

from __future__ import annotations

import time
from pathlib import Path

from daemon_proc import Daemon, wait_until

from jobrunner.job import Job, State, new_id
from jobrunner.storage import open_storage


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_an_isolated_handler_printing_400_mb_leaves_the_daemon_small(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "loud.yaml").write_text(
        "version: 1\nqueues:\n  loud:\n    handler: python\n"
        "    params: {callable: 'jobapp:shout'}\n    isolation: process\n    timeout: 2m\n"
    )
    url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(jobs, url, log=tmp_path / "daemon.log").start()
    store = open_storage(url)
    try:
        assert daemon.process is not None
        time.sleep(1)
        before = peak_mb(daemon.process.pid)
        job = Job(
            new_id(), "loud", {"out": str(tmp_path / "o.jsonl"), "mb": 400}, created=time.time()
        )
        store.enqueue(job)

        def done() -> bool:
            record = store.record(job.id)
            return record is not None and record.state is State.SUCCEEDED

        wait_until(done, what="the loud job to succeed", timeout=90)
        record = store.record(job.id)
        assert record is not None and record.result == {"printed_mb": 400}
        assert peak_mb(daemon.process.pid) - before < 20
    finally:
        store.close()
        assert daemon.stop() == 0
