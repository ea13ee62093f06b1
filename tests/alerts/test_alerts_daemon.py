"""Alerts end to end: real daemons as subprocesses on one storage (SQLite, then Redis).

Every daemon sees a refused change and a killed peer; each event still becomes
exactly one job in the alert queue, with the documented payload. An alert job
that dies is logged, never alerted into its own queue again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon_proc import Daemon, wait_until

from jobrunner.job import Job, new_id
from jobrunner.storage import Storage

JOBS = """\
version: 1
queues:
  billing:
    handler: python
    params: {{callable: "jobapp:permanent"}}
  notify:
    handler: shell
    params: {{command: ["sh", "-c", "cat > $(mktemp {alerts}/alert.XXXXXX); exit {status}"]}}
    retry: {{attempts: 1}}
alerts:
  on-call:
    events: [job.dead, reload.refused, daemon.lost]
    queue: notify
    throttle: 0
"""
FAST = ("--lease", "3s")  # heartbeats every second: a killed daemon is lost within seconds
PAYLOAD_KEYS = {"alert", "event", "subject", "at", "summary", "details", "suppressed"}


def alerts(sink: Path) -> list[dict[str, Any]]:
    """The payloads the alert queue's handler received, one file each (written whole
    before they are read: a partial one is read on the next round)."""
    found = []
    for path in sorted(sink.iterdir()):
        try:
            found.append(json.loads(path.read_text()))
        except ValueError:
            continue  # still being written
    return found


def settled(path: Path, count: int) -> list[dict[str, Any]]:
    """The alerts once `count` arrived and a while passed with no more (a second copy
    of any would arrive within it)."""
    wait_until(lambda: len(alerts(path)) >= count, what=f"{count} alerts", timeout=30)
    time.sleep(2)
    return alerts(path)


def enqueue_dying(store: Storage, out: Path) -> str:
    job = Job(id=new_id(), queue="billing", payload={"out": str(out)}, created=time.time())
    return store.enqueue(job)


def test_each_event_alerts_once_across_daemons(
    tmp_path: Path,
    jobs_dir: Callable[..., Path],
    daemons: Callable[..., Daemon],
    url: str,
    store: Storage,
) -> None:
    sink = tmp_path / "alerts"
    sink.mkdir()
    jobs = jobs_dir(**{"jobs.yaml": JOBS.format(alerts=sink, status=0)})
    watchers = [daemons(jobs, url, *FAST) for _ in range(2)]
    doomed = daemons(jobs, url, *FAST)

    ids = {enqueue_dying(store, tmp_path / "out.jsonl") for _ in range(2)}
    dead = settled(sink, 2)
    assert all(set(a) == PAYLOAD_KEYS for a in dead)
    assert {a["details"]["job"] for a in dead} == ids
    assert {(a["alert"], a["event"], a["subject"]) for a in dead} == {
        ("on-call", "job.dead", "billing")
    }
    first = dead[0]
    assert first["details"]["cause"] == "permanent"
    assert first["details"]["attempts"] == 1
    assert first["details"]["error_type"] == "PermanentError"
    assert first["details"]["error"] == "this payload can never work"
    assert first["summary"].startswith(f"job {first['details']['job']} of queue billing is dead")
    assert first["suppressed"] == 0

    (jobs / "broken.yaml").write_text("version: 1\nqueues:\n  oops: [not, a, mapping]\n")
    for daemon in [*watchers, doomed]:  # every daemon judges the change
        daemon.wait_for(lambda e: "left out" in e.get("msg", ""), what="the file left out")
    refused = [a for a in settled(sink, 3) if a["event"] == "reload.refused"]
    assert len(refused) == 1, refused
    assert refused[0]["details"]["refused"] is False
    assert refused[0]["details"]["left_out"] == [str(jobs / "broken.yaml")]
    assert refused[0]["details"]["problems"][0].startswith(f"{jobs / 'broken.yaml'}:3:")

    doomed.kill()
    lost = [a for a in settled(sink, 4) if a["event"] == "daemon.lost"]
    assert len(lost) == 1, lost
    assert lost[0]["details"]["pid"] == doomed.process.pid  # type: ignore[union-attr]
    assert len(alerts(sink)) == 4


def test_a_dead_alert_job_does_not_loop(
    tmp_path: Path,
    jobs_dir: Callable[..., Path],
    daemons: Callable[..., Daemon],
    url: str,
    store: Storage,
) -> None:
    sink = tmp_path / "alerts"
    sink.mkdir()
    jobs = jobs_dir(**{"jobs.yaml": JOBS.format(alerts=sink, status=1)})
    first, second = daemons(jobs, url), daemons(jobs, url)
    enqueue_dying(store, tmp_path / "out.jsonl")

    looped = "alert not delivered: the event is about the alert's own queue"
    wait_until(
        lambda: any(looped in e.get("msg", "") for d in (first, second) for e in d.events()),
        what="the looped alert logged",
    )
    time.sleep(2)
    assert [a["event"] for a in alerts(sink)] == ["job.dead"]  # one attempt of one alert job
    assert [r.job.queue for r in store.dead("notify")] == ["notify"]
    assert len(store.dead("billing")) == 1
