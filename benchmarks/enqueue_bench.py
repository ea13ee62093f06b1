"""Producers at volume: `Client.enqueue_many` throughput, and single `Client.enqueue` latency
while a daemon is busy (goals: enqueue_many ≥ 30,000 jobs/s into Redis; a single enqueue's
p99 ≤ 1 ms on Redis and ≤ 2 ms on SQLite while workers are busy).

1. Throughput: `--jobs` jobs through `Client.enqueue_many` in batches of 100, then of
   1,000, each payload checked against a `payload_schema` as producers' are; no daemon
   runs, so only the producer and the storage are measured.
2. Latency under load: a daemon (`jobrunner run`, one process) works a steady stream
   of no-op jobs (`--stream` a second, fed by `enqueue_many` from another process),
   while a producer thread times `--rate` single `Client.enqueue` calls a second for
   `--seconds`, into a queue the same daemon works. Prints p50/p99/max of those calls and
   how many jobs the daemon finished meanwhile.

On SQLite and on a redis-server of its own (when one can be started), in a temp dir.

    python benchmarks/enqueue_bench.py [--jobs 20000] [--seconds 10] [--rate 200] [--stream 500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import APPS, Daemon
from latency import report
from servers import RedisServer

from jobrunner import Client, config
from jobrunner.reload import publish as publishing
from jobrunner.storage import open_storage

JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:echo"}
    concurrency: 8
    payload_schema:
      type: object
      required: [n]
      properties: {n: {type: integer}, note: {type: string}}
  probe:
    handler: python
    params: {callable: "jobapp:echo"}
"""


def publish(url: str, jobs: Path) -> None:
    """Publish the configuration as a daemon does, so that a Client checks against it."""
    loaded = config.load([jobs])
    assert loaded.ok, [str(p) for p in loaded.problems]
    storage = open_storage(url)
    try:
        storage.publish(publishing.view(loaded.config, 1).as_dict())
    finally:
        storage.close()


def throughput(url: str, jobs: Path, total: int) -> None:
    publish(url, jobs)
    payloads = [{"n": n, "note": "benchmark"} for n in range(total)]
    name = url.split(":")[0]
    with Client(url) as client:
        client.enqueue_many("work", payloads[:100])  # connection, scripts, schema compiled
        for size in (100, 1000):
            start = time.perf_counter()
            for first in range(0, total, size):
                client.enqueue_many("work", payloads[first : first + size])
            rate = total / (time.perf_counter() - start)
            print(f"{name:<8} enqueue_many, batches of {size:>5}: {rate:9,.0f} jobs/s")


def feed(url: str, per_second: int, until: float) -> None:
    """A steady stream of no-op jobs for the daemon: a small batch every 20 ms."""
    batch = max(1, per_second // 50)
    with Client(url) as client:
        tick = time.monotonic()
        while tick < until:
            client.enqueue_many("work", [{"n": 0}] * batch)
            tick += 0.02
            time.sleep(max(0.0, tick - time.monotonic()))


def latency(url: str, jobs: Path, workdir: Path, seconds: float, rate: int, stream: int) -> None:
    publish(url, jobs)  # the daemon publishes it too, but maybe after it says "ready"
    daemon = Daemon(jobs, url, log=workdir / "daemon.log").start()
    try:
        until = time.monotonic() + 1.0 + seconds
        # Another process: a thread would share the GIL with the timed producer
        feeder = multiprocessing.Process(target=feed, args=(url, stream, until))
        feeder.start()
        time.sleep(1.0)  # the daemon busy first
        storage = open_storage(url)
        before = sum(t.attempts for t in storage.history("work", time.time() - 3600))
        latencies: list[float] = []
        with Client(url) as client:
            client.enqueue("probe", {"n": 0})
            tick = time.monotonic()
            while tick < until:
                start = time.perf_counter()
                client.enqueue("probe", {"n": len(latencies)})
                latencies.append(time.perf_counter() - start)
                tick += 1 / rate
                time.sleep(max(0.0, tick - time.monotonic()))
        feeder.join()
        done = sum(t.attempts for t in storage.history("work", time.time() - 3600)) - before
        storage.close()
        name = url.split(":")[0]
        print(f"{name:<8} single enqueue while the daemon ran {done / seconds:,.0f} jobs/s:")
        report(name, latencies)
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200, help="single enqueues a second")
    parser.add_argument("--stream", type=int, default=500, help="no-op jobs a second")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(APPS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        jobs = workdir / "jobs.d"
        jobs.mkdir()
        (jobs / "work.yaml").write_text(JOBS)
        urls = [f"sqlite:///{workdir / 'many.db'}", f"sqlite:///{workdir / 'busy.db'}"]
        try:
            server: RedisServer | None = RedisServer(workdir)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"redis    skipped: {exc}")
            server = None
        try:
            for url in (urls[0], *([server.url] if server else [])):
                throughput(url, jobs, args.jobs)
            if server:
                redis.Redis.from_url(server.url).flushall()  # the throughput run's jobs
            for url in (urls[1], *([server.url] if server else [])):
                latency(url, jobs, workdir, args.seconds, args.rate, args.stream)
        finally:
            if server:
                server.stop()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
