"""Jobs per second through several queues on a 1-node and a 3-node Redis Cluster.

    python benchmarks/cluster_bench.py [--queues 6] [--processes 3] [--jobs 1000] [--nodes 1,3]

Each of `--processes` processes owns `--queues / --processes` queues and, per queue,
enqueues `--jobs` jobs, then leases them by 50 and acks each one; the figure is every
process's jobs over the wall time. The clusters are local (tests/servers.py, free
ports). With as many client processes as cores, the clients, not Redis, are the limit
on a small machine: more nodes help only once one Redis core is the bottleneck.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import RedisCluster

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import open_storage
from jobrunner.storage.redis.keys import prefix


def work(url: str, queues: list[str], jobs: int) -> int:
    """Enqueue, lease and ack `jobs` jobs in each of `queues`; how many were acked."""
    store = open_storage(url)
    done = 0
    for queue in queues:
        for _ in range(jobs):
            store.enqueue(Job(new_id(), queue, {"n": 1}, created=time.time()))
    for queue in queues:
        while leases := store.lease(queue, f"bench-{queue}", count=50, lease_for=60):
            for lease in leases:
                record = Record(Job(lease.job_id, queue, {"n": 1}), State.SUCCEEDED)
                done += store.ack(lease, record, 60)
    store.close()
    return done


def measure(url: str, queues: list[str], processes: int, jobs: int) -> float:
    shares = [queues[i::processes] for i in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        started = time.perf_counter()
        done = sum(pool.starmap(work, [(url, share, jobs) for share in shares]))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=6)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000, help="per queue")
    parser.add_argument("--nodes", default="1,3", help="cluster sizes, comma-separated")
    args = parser.parse_args()
    queues = [f"queue-{n}" for n in range(args.queues)]
    print("nodes,queues,processes,jobs/s,nodes in use")
    for size in map(int, args.nodes.split(",")):
        with tempfile.TemporaryDirectory() as workdir:
            cluster = RedisCluster(Path(workdir), size=size)
            try:
                client = cluster.client()
                used = {client.get_node_from_key(prefix(q) + "ready").port for q in queues}
                measure(cluster.url, queues, args.processes, 50)  # warm-up: scripts, pools
                rate = measure(cluster.url, queues, args.processes, args.jobs)
                print(f"{size},{args.queues},{args.processes},{rate:.0f},{len(used)}")
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
