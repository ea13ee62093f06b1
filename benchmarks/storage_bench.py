"""Storage throughput: enqueue N jobs, then lease them in batches and ack each one.

    python benchmarks/storage_bench.py [--jobs 10000] [--batch 50] [--backend redis|sqlite]

One process, one thread, so it measures round trips and server-side work, not
the engine. Redis runs as a throwaway redis-server on a free port (never a
shared one); SQLite in a temp dir.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Storage, open_storage


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([binary, *args, "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(5)


def run(storage: Storage, jobs: int, batch: int) -> tuple[float, float]:
    """Seconds to enqueue `jobs`, and to lease (by `batch`) and ack them all."""
    now = time.time()
    start = time.perf_counter()
    for n in range(jobs):
        storage.enqueue(Job(id=new_id(), queue="bench", payload={"n": n}, created=now))
    enqueued = time.perf_counter()
    done = 0
    while done < jobs:
        leases = storage.lease("bench", "bench-daemon", count=batch, lease_for=60)
        for lease in leases:
            job = Job(id=lease.job_id, queue="bench", payload=None)
            storage.ack(lease, Record(job, State.SUCCEEDED, updated=now), keep_for=60)
        done += len(leases)
    return enqueued - start, time.perf_counter() - enqueued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--backend", choices=["redis", "sqlite", "both"], default="both")
    options = parser.parse_args()
    backends = ["redis", "sqlite"] if options.backend == "both" else [options.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            with redis_server(Path(tmp)) if backend == "redis" else nullurl(tmp) as url:
                storage = open_storage(url)
                put, take = run(storage, options.jobs, options.batch)
                storage.close()
            total = options.jobs / (put + take)
            print(
                f"{backend:6}  enqueue {options.jobs / put:8.0f}/s  "
                f"lease({options.batch})+ack {options.jobs / take:8.0f}/s  "
                f"end to end {total:8.0f} jobs/s"
            )


@contextmanager
def nullurl(tmp: str) -> Iterator[str]:
    yield f"sqlite:///{tmp}/bench.db"


if __name__ == "__main__":
    main()
