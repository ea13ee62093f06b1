"""`durability=replicated`: writes wait for a replica (WAIT), reads and leases do not.

Without a replica to confirm, every write a job's fate depends on fails with a message
saying so, after `wait_timeout`; the write itself is on the primary (an enqueue reported
as failed may still run: retry with an idempotency key). With a replica (Sentinel), the
same calls succeed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from servers import RedisSentinel

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Pause, StorageError, open_storage

WAITS = "durability=replicated&wait_timeout=50ms"


def job(queue: str = "q") -> Job:
    return Job(new_id(), queue, {"n": 1}, created=time.time())


def test_without_a_replica_writes_are_refused_and_reads_are_not(redis_url: str) -> None:
    plain = open_storage(redis_url)
    store = open_storage(f"{redis_url}?{WAITS}")
    try:
        queued, other = job(), job()
        for j in (queued, other):
            with pytest.raises(StorageError, match=r"only 0 of 1 replica\(s\) .* within 50ms"):
                store.enqueue(j)
            assert store.record(j.id) is not None  # on the primary all the same
        assert store.stats()["q"].ready == 2  # a read waits for nobody
        # Nor does a lease: refused, it would stay held on the primary by nobody; lost in
        # a failover, its job is only delivered again.
        leases = store.lease("q", "d1", count=2, lease_for=30)
        assert {x.job_id for x in leases} == {queued.id, other.id}
        lease = next(x for x in leases if x.job_id == queued.id)
        done = Record(queued, State.SUCCEEDED, updated=time.time())
        for write in (
            lambda: store.ack(lease, done, 60),
            lambda: store.pause(Pause("q")),
            lambda: store.resume("q"),
            lambda: store.publish({"version": 1}),
            lambda: store.set_value("k", 1),
            lambda: store.cancel(other.id, 60),
        ):
            with pytest.raises(StorageError, match="durability=replicated"):
                write()
        assert store.published() == {"version": 1}
    finally:
        store.close()
        plain.close()


def test_with_a_replica_writes_are_confirmed(tmp_path: Path) -> None:
    servers = RedisSentinel(tmp_path)
    store = open_storage(servers.url(WAITS.replace("50ms", "1000ms")))
    try:
        queued = job()
        assert store.enqueue(queued) == queued.id
        [lease] = store.lease("q", "d1", count=1, lease_for=30)
        assert store.ack(lease, Record(queued, State.SUCCEEDED, updated=time.time()), 60)
        store.pause(Pause("q"))
        assert store.resume("q")
        store.set_value("k", 2)
        assert store.get_value("k") == 2
    finally:
        store.close()
        servers.stop()
