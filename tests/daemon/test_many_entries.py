"""A daemon with 1,000 queues and 1,000 cron entries that run their own handlers starts,
serves any of them, reloads, and holds a bounded number of storage connections however many
entries it has (lanes share the daemon's worker threads: worker/pool.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from daemon_proc import Daemon, lines, wait_until

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage

COUNT = 1000
CONNECTIONS = 24  # storage connections one idle daemon process holds at most, entries aside


def many(jobs: Path, count: int = COUNT) -> None:
    """`count` queues, and `count` hourly cron entries that run a handler (none due soon)."""
    minute = (time.gmtime().tm_min + 30) % 60
    text = ["version: 1", "queues:"]
    text += [
        f"  q{n:04d}: {{handler: python, params: {{callable: 'jobapp:record'}}}}"
        for n in range(count)
    ]
    text.append("cron:")
    text += [
        f"  c{n:04d}: {{schedule: '{minute} * * * *', handler: python,"
        " params: {callable: 'jobapp:record'}}"
        for n in range(count)
    ]
    (jobs / "many.yaml").write_text("\n".join(text) + "\n")


def test_a_thousand_queues_and_cron_entries_serve_reload_and_bound_connections(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs = jobs_dir(**{"keep.yaml": "version: 1\n"})
    many(jobs)
    daemon = daemons(jobs, url)
    ids = [
        store.enqueue(Job(new_id(), f"q{n:04d}", {"out": str(out), "n": n}, created=time.time()))
        for n in (0, 499, 999)
    ]
    wait_until(
        lambda: all((r := store.record(i)) is not None and r.state is State.SUCCEEDED for i in ids),
        what="jobs in the first, middle and last queue ran",
    )
    assert sorted(x["n"] for x in lines(out) if x.get("phase") == "end") == [0, 499, 999]

    (jobs / "more.yaml").write_text(
        "version: 1\nqueues:\n  extra: {handler: python, params: {callable: 'jobapp:record'}}\n"
    )
    daemon.wait_for(lambda e: e.get("msg") == "plan: + queue extra", what="the reload")
    job = store.enqueue(Job(new_id(), "extra", {"out": str(out), "n": -1}, created=time.time()))
    wait_until(
        lambda: (r := store.record(job)) is not None and r.state is State.SUCCEEDED,
        what="the added queue serves",
    )
    errors = [e for e in daemon.events() if e.get("level") in ("error", "critical")]
    assert errors == []

    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        held = [c for c in client.client_list() if c.get("name") == "jobrunner"]
        client.close()
        print("storage connections held:", len(held))
        assert 0 < len(held) <= CONNECTIONS + 2, len(held)  # the test's own store: 2 at most
