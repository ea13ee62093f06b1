"""Hostile storage data is contained: garbage in the shared records and in a leased job's
record and delivery count never stops a daemon, and every other queue keeps running."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from conftest import run_cli
from daemon_proc import Daemon, wait_until
from garbage import corrupt_record, inject_garbage, overwrite_value

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage

JOBS = """\
version: 1
queues:
  a: {handler: python, params: {callable: "jobapp:hang"}}
  b: {handler: python, params: {callable: "jobapp:record"}}
cron:
  tick: {every: 1h, queue: b, payload: {n: 0}}
"""


def test_garbage_everywhere_stops_no_daemon_and_the_other_queues_run(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon]
) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(JOBS)
    out = tmp_path / "out.jsonl"
    stuck = Job(new_id(), "a", {"out": str(out)}, created=time.time())
    store.enqueue(stuck)
    first = daemons(jobs, url, "--lease", "1s")
    wait_until(lambda: out.exists(), what="the job of queue a to start")
    first.kill()  # its lease expires with a record and a count that do not read
    corrupt_record(url, "a", stuck.id, b"\xff\xfe garbage", b"NaN-ish")
    for key in ("config", "last-good-files", "problems", "cron:tick"):
        overwrite_value(url, key, b"\x80 not json at all")
    inject_garbage(url, "b", b"\x00 not a job either")
    second = daemons(jobs, url, "--lease", "1s")
    time.sleep(3)  # several heartbeats, reclaims and orphan checks over the garbage
    job = Job(new_id(), "b", {"out": str(tmp_path / "b.jsonl"), "n": 1}, created=time.time())
    store.enqueue(job)

    def done() -> bool:
        record = store.record(job.id)
        return record is not None and record.state is State.SUCCEEDED

    wait_until(done, what="queue b to keep running")
    assert second.process is not None and second.process.poll() is None
    exits = [e for e in second.events() if e.get("msg") == "stopped" or "Traceback" in str(e)]
    assert exits == []
    for args in (["status"], ["dlq", "list"], ["jobs", "show", stuck.id]):
        result = run_cli(*args, "--storage", url)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
