"""jobrunner's default daemon (`jobrunner run --storage URL`, default flags), on Redis and SQLite.

One queue `bench` with `concurrency: 8` and a no-op python handler. Its own
figures, measured on the same daemon and server: single `Client.enqueue`
latency while the workers are busy (phase "loaded"), and the bulk
`Client.enqueue_many` rate once the workers have stopped (phase "stopped").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from daemon_proc import Daemon
from latency import percentiles

from benchmarks.compare.peers.base import Peer
from benchmarks.compare.processes import APPS
from jobrunner import Client

JOBS = """\
version: 1
queues:
  bench:
    handler: python
    params: {callable: "jobrunner_app:noop"}
    concurrency: 8
"""


def jobs_dir(workdir: Path) -> Path:
    jobs = workdir / "jobs.d"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / "bench.yaml").write_text(JOBS)
    return jobs


def publish(url: str, workdir: Path) -> None:
    """A daemon started and stopped once: producers need the configuration it publishes."""
    daemon = Daemon(
        jobs_dir(workdir), url, log=workdir / "publish.log", env={"PYTHONPATH": str(APPS)}
    )
    daemon.start().stop()


def workers(url: str, workdir: Path) -> list[list[str]]:
    return [
        [
            sys.executable,
            "-m",
            "jobrunner",
            "run",
            "--jobs-dir",
            str(jobs_dir(workdir)),
            "--storage",
            url,
        ]
    ]


def extra(url: str, workdir: Path, phase: str, jobs: int) -> dict[str, Any]:
    with Client(url) as client:
        if phase == "loaded":
            took = percentiles(enqueue_latency(client, max(50, min(2000, jobs // 10))))
            return {"enqueue_p50": took["p50"], "enqueue_p99": took["p99"]}
        return {"bulk_enqueue": bulk_enqueue(client, jobs)}


def enqueue_latency(client: Client, samples: int) -> list[float]:
    """Seconds each of `samples` single enqueues took, one after the other."""
    client.enqueue("bench", {})  # the configuration read and the connection, not measured
    took = []
    for _ in range(samples):
        start = time.perf_counter()
        client.enqueue("bench", {})
        took.append(time.perf_counter() - start)
    return took


def bulk_enqueue(client: Client, jobs: int) -> float | str:
    """Jobs per second of one `enqueue_many` call of `jobs` payloads, or why there is none."""
    enqueue_many = getattr(client, "enqueue_many", None)
    if enqueue_many is None:
        return "not available: this jobrunner's Client has no enqueue_many"
    payloads = [{"n": n} for n in range(jobs)]
    start = time.perf_counter()
    ids = enqueue_many("bench", payloads)
    elapsed = time.perf_counter() - start
    if len(ids) != jobs:
        raise RuntimeError(f"enqueue_many returned {len(ids)} ids for {jobs} payloads")
    return jobs / elapsed


REDIS = Peer(
    "jobrunner",
    "jobrunner run, default flags, concurrency 8, Redis",
    "jobrunner_app",
    workers,
    prepare=publish,
    extra=extra,
)
SQLITE = Peer(
    "jobrunner-sqlite",
    "the same on SQLite (the default storage)",
    "jobrunner_app",
    workers,
    storage="sqlite",
    prepare=publish,
    extra=extra,
)
