"""Redis Cluster specifics beyond the contract suite (which runs on the cluster too).

Each queue's keys share the hash tag `{Q}`, so every script runs on one slot; different
queues land on different nodes; the wake relay listens on one node and hears them all.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from jobrunner.job import Job, new_id
from jobrunner.storage import open_storage
from jobrunner.storage.redis.keys import prefix

QUEUES = [f"q{n}" for n in range(12)]


def job(queue: str) -> Job:
    return Job(new_id(), queue, {"n": 1}, created=time.time())


def node_of(cluster: Any, key: str) -> int:
    """The port of the node serving `key`'s slot."""
    client = redis.Redis(port=cluster.ports[0])
    slot = client.cluster("KEYSLOT", key)
    for start, end, primary, *_ in client.cluster("SLOTS"):
        if start <= slot <= end:
            return int(primary[1])
    raise AssertionError(f"no node serves slot {slot}")


def test_each_queue_lives_on_one_node_and_queues_spread_over_all(
    cluster_url: str, redis_cluster: Any
) -> None:
    store = open_storage(cluster_url)
    try:
        for queue in QUEUES:
            store.enqueue(job(queue))
        by_node: dict[int, list[str]] = {}
        for queue in QUEUES:
            node = node_of(redis_cluster, prefix(queue) + "ready")
            keys = redis.Redis(port=node).keys(prefix(queue) + "*")
            assert keys and {node_of(redis_cluster, k.decode()) for k in keys} == {node}
            by_node.setdefault(node, []).append(queue)
        assert set(by_node) == set(redis_cluster.ports)  # three nodes, all in use
        found = store.lease_many(dict.fromkeys(QUEUES, 5), "d1", lease_for=30)
        assert sum(len(f.leases) for f in found.values()) == len(QUEUES)
    finally:
        store.close()


def test_a_waiter_hears_a_queue_on_another_node(cluster_url: str, redis_cluster: Any) -> None:
    """PUBLISH (from a script too) reaches every node: one PSUBSCRIBE hears all queues."""
    waiter, producer = open_storage(cluster_url), open_storage(cluster_url)
    try:
        nodes = {node_of(redis_cluster, prefix(q) + "ready"): q for q in QUEUES}
        assert len(nodes) == 3
        waiter.woken(waiter.moment(), QUEUES, 0.2)  # subscribed
        for queue in nodes.values():
            woken = threading.Event()
            since = waiter.moment()

            def wait(
                queue: str = queue, woken: threading.Event = woken, since: int = since
            ) -> None:
                if queue in waiter.woken(since, [queue], 10)[1]:
                    woken.set()

            thread = threading.Thread(target=wait)
            thread.start()
            time.sleep(0.3)
            started = time.monotonic()
            producer.enqueue(job(queue))
            assert woken.wait(3), f"not woken by an enqueue into {queue}"
            assert time.monotonic() - started < 1.0
            thread.join()
            waiter.lease(queue, "d1", count=1, lease_for=30)
    finally:
        waiter.close()
        producer.close()


def test_scripts_come_back_after_a_script_flush(cluster_url: str, redis_cluster: Any) -> None:
    """NOSCRIPT on a node (restarted, or SCRIPT FLUSH): the script is loaded again."""
    store = open_storage(cluster_url)
    try:
        store.enqueue(job("a"))
        for port in redis_cluster.ports:
            redis.Redis(port=port).script_flush()
        for queue in QUEUES:
            store.enqueue(job(queue))
        assert {q: s.ready for q, s in store.stats().items()} == dict.fromkeys(["a", *QUEUES], 1)
    finally:
        store.close()
