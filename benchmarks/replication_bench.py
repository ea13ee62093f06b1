"""What `durability=replicated` costs: enqueue latency and throughput with and without WAIT.

    python benchmarks/replication_bench.py [--jobs 2000] [--threads 1,4] [--rounds 3]

A local primary with one replica, under Sentinel (tests/servers.py starts them on free
ports; never a shared server). For each durability and each thread count: `--jobs`
enqueues split over the threads, then the leases and acks of them all (one `lease`
of 50 then one `ack` per job, in one thread). Prints jobs/s and the enqueue latency
percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import RedisSentinel

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Storage, open_storage

WARM_UP = 200  # enqueues before each measurement, not counted


def enqueue_all(store: Storage, queue: str, jobs: int, threads: int) -> tuple[float, list[float]]:
    """Seconds to enqueue `jobs` from `threads` threads, and each enqueue's latency."""
    latencies: list[float] = []
    lock = threading.Lock()

    def produce(n: int) -> None:
        mine = []
        for _ in range(n):
            job = Job(new_id(), queue, {"n": 1}, created=time.time())
            started = time.perf_counter()
            store.enqueue(job)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=produce, args=(jobs // threads,)) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, latencies


def settle_all(store: Storage, queue: str) -> tuple[float, int]:
    """Seconds to lease (by 50) and ack every job of `queue`, and how many."""
    started, done = time.perf_counter(), 0
    while leases := store.lease(queue, "bench", count=50, lease_for=60):
        for lease in leases:
            job = Job(lease.job_id, queue, {"n": 1})
            store.ack(lease, Record(job, State.SUCCEEDED, updated=time.time()), 60)
            done += 1
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", default="1,4", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=3, help="each measurement this often")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        servers = RedisSentinel(Path(workdir))
        try:
            print("round,durability,threads,enqueue jobs/s,p50 ms,p99 ms,lease+ack jobs/s")
            runs = [
                (r, d, int(t))
                for r in range(1, args.rounds + 1)
                for t in args.threads.split(",")
                for d in ("async", "replicated")  # side by side: a busy moment hits both
            ]
            for round_, durability, threads in runs:
                store = open_storage(servers.url(f"durability={durability}"))
                queue = f"{durability}-{threads}-{round_}"
                enqueue_all(store, "warm-up", WARM_UP, threads)  # connections, scripts
                seconds, latencies = enqueue_all(store, queue, args.jobs, threads)
                settled, done = settle_all(store, queue)
                cuts = statistics.quantiles(latencies, n=100)
                print(
                    f"{round_},{durability},{threads},{len(latencies) / seconds:.0f},"
                    f"{cuts[49] * 1000:.2f},{cuts[98] * 1000:.2f},{done / settled:.0f}"
                )
                store.close()
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
