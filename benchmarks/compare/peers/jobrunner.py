"""jobrunner's default daemon (`jobrunner run --storage URL`, default flags), on Redis and SQLite.

One queue `bench` with `concurrency: 8` and a no-op python handler. Its own
figures, measured on the same daemon and server: single `Client.enqueue`
latency while the workers are busy (phase "loaded"), and the bulk
`Client.enqueue_many` rate once the workers have stopped (phase "stopped").

On Redis each enqueue of the latency sample is followed by a PING of the same
server from the same process: what a round trip that does nothing takes under
the same load, which is all scheduling. Its p99 is the floor under the
enqueue's on a machine whose cores the workers and the producer share.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import redis
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
            ping = redis.Redis.from_url(url) if url.startswith("redis") else None
            took, pings = enqueue_latency(client, ping, max(50, min(2000, jobs // 10)))
            found = {
                "enqueue_p50": percentiles(took)["p50"],
                "enqueue_p99": percentiles(took)["p99"],
            }
            if ping is not None:
                found["ping_p99"] = percentiles(pings)["p99"]
                ping.close()
            return found
        return {"bulk_enqueue": bulk_enqueue(client, jobs)}


def enqueue_latency(
    client: Client, ping: redis.Redis | None, samples: int
) -> tuple[list[float], list[float]]:
    """Seconds each of `samples` single enqueues took, one after the other; with `ping`,
    each followed by a PING, and the seconds each PING took."""
    client.enqueue("bench", {})  # the configuration read and the connection, not measured
    if ping is not None:
        ping.ping()
    took, pings = [], []
    for _ in range(samples):
        start = time.perf_counter()
        client.enqueue("bench", {})
        took.append(time.perf_counter() - start)
        if ping is not None:
            start = time.perf_counter()
            ping.ping()
            pings.append(time.perf_counter() - start)
    return took, pings


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
