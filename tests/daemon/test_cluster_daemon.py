"""`jobrunner run --storage redis+cluster://…`: queues on different nodes, reload, cron ticks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from daemon_proc import Daemon, lines, wait_until

from jobrunner.job import Job, new_id
from jobrunner.storage import open_storage
from jobrunner.storage.redis.keys import prefix

QUEUES = ["emails", "reports", "billing", "thumbnails", "exports", "imports"]


def job_file(out: Path, queues: list[str]) -> str:
    entries = "".join(
        f'  {q}:\n    handler: python\n    params: {{callable: "jobapp:record"}}\n'
        "    concurrency: 2\n"
        for q in queues
    )
    cron = (
        f'cron:\n  tick:\n    every: 1s\n    queue: emails\n    payload: {{out: "{out}", n: -1}}\n'
    )
    return f"version: 1\nqueues:\n{entries}{cron}"


def nodes_of(cluster: Any, queues: list[str]) -> set[int]:
    client = redis.Redis(port=cluster.ports[0])
    slots = client.cluster("SLOTS")
    found = set()
    for queue in queues:
        slot = client.cluster("KEYSLOT", prefix(queue) + "ready")
        found |= {int(p[1]) for start, end, p, *_ in slots if start <= slot <= end}
    return found


def test_a_daemon_serves_queues_across_cluster_nodes_reloads_and_ticks(
    cluster_url: str,
    redis_cluster: Any,
    jobs_dir: Callable[..., Path],
    daemons: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    assert len(nodes_of(redis_cluster, QUEUES)) == 3  # the queues land on every node
    jobs = jobs_dir(**{"queues.yaml": job_file(out, QUEUES)})
    daemon = daemons(jobs, cluster_url)
    store = open_storage(cluster_url)
    try:
        ids = {
            store.enqueue(Job(new_id(), q, {"out": str(out), "n": n}, created=time.time()))
            for n, q in enumerate(QUEUES * 5)
        }

        def ran() -> set[str]:
            return {x["job"] for x in lines(out) if x.get("phase") == "end"}

        wait_until(lambda: ids <= ran(), what="every job ran", timeout=30)
        wait_until(
            lambda: sum(x["n"] == -1 for x in lines(out) if x.get("phase") == "end") >= 2,
            what="two cron ticks ran",
        )
        (jobs / "queues.yaml").write_text(job_file(out, [*QUEUES, "late"]))
        daemon.wait_for(
            lambda e: e.get("msg") == "configuration in force" and str(e.get("generation")) == "2",
            what="the reload",
        )
        late = store.enqueue(Job(new_id(), "late", {"out": str(out)}, created=time.time()))
        wait_until(lambda: late in ran(), what="the job of the new queue ran")
        assert daemon.stop() == 0
        assert all(s.running == 0 for s in store.stats().values())
        assert [e for e in daemon.events() if e.get("level") in ("error", "warning")] == []
    finally:
        store.close()
