"""Redis commands per job, as the server counts them (`INFO commandstats`, EVALSHA included).

A count, not a timing: the same on any machine, so each limit is exact. A change that
adds a command to a step fails here; lower a limit when a step gets cheaper.
To count another step, add a test that calls `per_job` with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage.base import Done, Lease
from jobrunner.storage.redis.enqueue import CHUNK
from jobrunner.storage.redis.store import RedisStorage

N = 50  # jobs (or batches) per count
ENQUEUE = 6  # EVALSHA, ZCARD ready, INCRBY, ZADD NX listing (the look for the id), HSET, ZADD
ENQUEUE_DELAYED = ENQUEUE + 1  # TIME: a delay is measured on the Redis clock
ENQUEUE_IDEMPOTENT = ENQUEUE + 2  # GET and SET of the idempotency key
ENQUEUE_MANY = 1  # HSET a job, and once a chunk (CHUNK jobs):
CHUNK_COST = 6  # EVALSHA, ZCARD ready, INCRBY, ZADD NX listing, EXISTS job keys, ZADD ready
IGNORED = {"cmdstat_config|resetstat", "cmdstat_info"}  # the counting itself
BATCH = 16  # jobs leased, and acknowledged, a call: a lane's worth of threads
# Leasing: EVALSHA, EXISTS paused, TYPE leased and owner set, TIME, ZRANGEBYSCORE
# scheduled, ZRANGE ready, INCRBY seq (which proves the counter), ZPOPMIN, ZADD leased,
# SADD owner set, HSET dlv (each job's delivery, for the ack); then a job:
LEASE_A_CALL, LEASE_A_JOB = 12, 2  # HMGET (which proves the hash's type) and HSET
# Acknowledging: EVALSHA, ZMSCORE leased, HMGET dlv (the fence of them all), TYPE owner set
# and kept, ZREM, HDEL dlv, ZADD kept (the records' retention), SREM, HINCRBY; then a job:
ACK_A_CALL, ACK_A_JOB = 10, 1  # HSET
# Finding nothing: EVALSHA, EXISTS paused, TIME, ZRANGEBYSCORE scheduled, ZRANGE ready, and
# one ZRANGE of scheduled for the wait; the keys it would write are not checked (no write)
EMPTY_LEASE = 6


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStorage]:
    storage = RedisStorage.from_url(redis_url)
    storage.enqueue(job())  # scripts loaded, the queue registered: once per process
    yield storage
    storage.close()


def job(**kw: Any) -> Job:
    return Job(id=new_id(), queue="q", payload={"n": 1}, created=time.time(), **kw)


def per_job(url: str, jobs: int, act: Callable[[], object]) -> float:
    """Commands the server ran during `act`, per job."""
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    act()
    stats = client.info("commandstats")
    client.close()
    return sum(s["calls"] for name, s in stats.items() if name not in IGNORED) / jobs


def test_a_single_enqueue(store: RedisStorage, redis_url: str) -> None:
    assert per_job(redis_url, N, lambda: [store.enqueue(job()) for _ in range(N)]) <= ENQUEUE


def test_a_single_delayed_enqueue(store: RedisStorage, redis_url: str) -> None:
    count = per_job(redis_url, N, lambda: [store.enqueue(job(), delay=60) for _ in range(N)])
    assert count <= ENQUEUE_DELAYED + 1 / N  # one wake message: the first scheduled job


def test_a_single_enqueue_with_an_idempotency_key(store: RedisStorage, redis_url: str) -> None:
    def enqueue() -> None:
        for _ in range(N):
            store.enqueue(job(idempotency_key=new_id()), idempotency_ttl=60)

    assert per_job(redis_url, N, enqueue) <= ENQUEUE_IDEMPOTENT


def test_enqueue_many(store: RedisStorage, redis_url: str) -> None:
    batch = [job() for _ in range(2 * CHUNK)]
    count = per_job(redis_url, len(batch), lambda: store.enqueue_many(batch))
    assert count <= ENQUEUE_MANY + CHUNK_COST / CHUNK


def test_enqueue_many_with_idempotency_keys(store: RedisStorage, redis_url: str) -> None:
    batch = [job(idempotency_key=new_id()) for _ in range(2 * CHUNK)]
    count = per_job(redis_url, len(batch), lambda: store.enqueue_many(batch, idempotency_ttl=60))
    assert count <= ENQUEUE_MANY + 2 + CHUNK_COST / CHUNK


def lease_all(store: RedisStorage, jobs: int, count: int) -> list[Lease]:
    """Lease `jobs` waiting jobs, `count` a call."""
    leases: list[Lease] = []
    while len(leases) < jobs:
        leases += store.lease_many({"q": count}, "d1", lease_for=60)["q"].leases
    return leases


def done(lease: Lease) -> Done:
    return Done(lease, Record(job(), State.SUCCEEDED, updated=time.time()), 3600)


@pytest.mark.parametrize("count", [BATCH, 1])
def test_lease_and_ack(store: RedisStorage, redis_url: str, count: int) -> None:
    """What a daemon pays a job it runs, enqueue aside: in batches of 16, 4.4 commands
    (20.9 before lease_many and ack_many); one at a time, 25."""
    jobs = N * count
    for _ in range(jobs + 1):
        store.enqueue(job())
    store.ack_many([done(x) for x in store.lease("q", "d1", count=1, lease_for=60)])  # loaded
    leases: list[Lease] = []
    lease = per_job(redis_url, jobs, lambda: leases.extend(lease_all(store, jobs, count)))
    assert lease <= LEASE_A_JOB + LEASE_A_CALL / count
    acks = [done(x) for x in leases]
    answers: list[bool] = []

    def ack() -> None:
        for start in range(0, jobs, count):
            answers.extend(store.ack_many(acks[start : start + count]))

    assert per_job(redis_url, jobs, ack) <= ACK_A_JOB + ACK_A_CALL / count
    assert answers == [True] * jobs


def test_an_empty_lease(store: RedisStorage, redis_url: str) -> None:
    """What a lane pays to find nothing (and when its next scheduled job is due)."""
    store.lease("q", "d1", count=1, lease_for=60)  # the script loaded, the queue emptied

    def poll() -> None:
        for _ in range(N):
            assert store.lease_many({"q": BATCH}, "d1", lease_for=60)["q"].leases == []

    assert per_job(redis_url, N, poll) <= EMPTY_LEASE
