"""`Storage.enqueue_many`: a batch stored as `enqueue` stores each job, on SQLite and Redis.

The Redis tests at the end also put a stray writer's keys in a batch's way: nothing of a
chunk is written before all its keys are found sound.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
import redis
from garbage import replace_key

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Storage, open_storage
from jobrunner.storage.base import StorageError
from jobrunner.storage.redis.enqueue import CHUNK
from jobrunner.storage.redis.keys import listing_key, prefix


def job(queue: str = "q", **kw: Any) -> Job:
    return Job(id=new_id(), queue=queue, payload={"n": kw.pop("n", 0)}, created=time.time(), **kw)


def drain(store: Storage, queue: str = "q") -> list[str]:
    """The ids of every due job of `queue`, in the order they are leased."""
    ids: list[str] = []
    while leases := store.lease(queue, "d1", count=500, lease_for=30):
        ids += [lease.job_id for lease in leases]
    return ids


def test_ids_come_back_in_order_and_jobs_run_by_priority_then_fifo(store: Storage) -> None:
    jobs = [job(priority=p, n=n) for n, p in enumerate([2, 3, 0, 2, 0])]
    assert store.enqueue_many(jobs) == [j.id for j in jobs]
    assert store.enqueue_many([]) == []
    assert drain(store) == [jobs[i].id for i in (2, 4, 0, 3, 1)]


def test_a_batch_spans_queues_and_each_job_is_listed(store: Storage) -> None:
    jobs = [job("a"), job("b"), job("a")]
    assert store.enqueue_many(jobs) == [j.id for j in jobs]
    assert drain(store, "a") == [jobs[0].id, jobs[2].id] and drain(store, "b") == [jobs[1].id]
    assert store.record(jobs[1].id).state is State.RUNNING  # type: ignore[union-attr]


def test_idempotent_jobs_answer_the_earlier_id_within_and_across_batches(store: Storage) -> None:
    first = job(idempotency_key="k1")
    store.enqueue(first, idempotency_ttl=60)
    again, twin, other = job(idempotency_key="k1"), job(idempotency_key="k2"), job()
    late = job(idempotency_key="k2")
    ids = store.enqueue_many([again, twin, other, late], idempotency_ttl=60)
    assert ids == [first.id, twin.id, other.id, twin.id]
    assert sorted(drain(store)) == sorted([first.id, twin.id, other.id])


def test_a_batch_sent_again_stores_nothing_twice(store: Storage) -> None:
    """A caller retrying after a failure midway sends the same jobs (same ids) again."""
    jobs = [job(n=n) for n in range(5)]
    store.enqueue_many(jobs[:3])
    [held] = store.lease("q", "d1", count=1, lease_for=30)  # one of them runs already
    assert store.enqueue_many(jobs + jobs[:1]) == [j.id for j in jobs] + [jobs[0].id]
    assert sorted([held.job_id, *drain(store)]) == sorted(j.id for j in jobs)
    assert store.stats()["q"].running == 5


def test_a_finished_job_sent_again_is_stored_anew(store: Storage) -> None:
    done = job()
    store.enqueue(done)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.ack(lease, Record(done, State.SUCCEEDED, updated=time.time()), keep_for=60)
    assert store.enqueue_many([done]) == [done.id]
    assert store.record(done.id).state is State.QUEUED  # type: ignore[union-attr]
    assert drain(store) == [done.id]


def test_a_delayed_batch_waits_and_keeps_its_order(store: Storage) -> None:
    jobs = [job(n=n) for n in range(3)]
    store.enqueue_many(jobs, delay=0.3)
    assert store.stats()["q"].scheduled == 3 and drain(store) == []
    assert store.record(jobs[0].id).state is State.SCHEDULED  # type: ignore[union-attr]
    time.sleep(0.4)
    assert drain(store) == [j.id for j in jobs]
    later = job()
    store.enqueue_many([later], at=time.time() + 3600)
    assert store.record(later.id).run_at == pytest.approx(time.time() + 3600, abs=5)  # type: ignore[union-attr]


# -- Redis: chunks, wake messages, stray keys -------------------------------------------


@pytest.fixture
def redis_store(store: Storage, url: str) -> Storage:
    if url.startswith("sqlite"):
        pytest.skip("Redis only")
    return store


def test_a_batch_larger_than_a_chunk_is_stored_whole_in_order(
    redis_store: Storage, url: str
) -> None:
    jobs = [job(n=n) for n in range(CHUNK * 2 + 7)]
    assert redis_store.enqueue_many(jobs) == [j.id for j in jobs]
    assert drain(redis_store) == [j.id for j in jobs]
    listed = redis.Redis.from_url(url).zcard(listing_key("q"))
    assert listed == len(jobs)


def test_one_wake_message_when_ready_stops_being_empty(redis_store: Storage, url: str) -> None:
    client = redis.Redis.from_url(url)
    listener = client.pubsub()
    listener.subscribe(prefix("q") + "wake")
    listener.get_message(timeout=1)  # the subscription's confirmation
    redis_store.enqueue_many([job() for _ in range(10)])
    redis_store.enqueue_many([job() for _ in range(10)])  # ready was not empty: no message
    got = [listener.get_message(timeout=0.3) for _ in range(3)]
    assert len([m for m in got if m]) == 1
    listener.close()


def test_a_stray_job_hash_in_a_batch_is_set_aside_and_the_rest_stored(
    redis_store: Storage, url: str
) -> None:
    jobs = [job(n=n) for n in range(4)]
    stray = f"{prefix('q')}job:{jobs[2].id}"
    replace_key(url, stray, "list", b"a stray writer's")
    assert redis_store.enqueue_many(jobs) == [j.id for j in jobs]
    assert drain(redis_store) == [j.id for j in jobs]
    kept = redis.Redis.from_url(url).type(f"{prefix('q')}corrupt:job:{jobs[2].id}")
    assert kept == b"list"


def test_a_stray_key_where_one_new_jobs_hash_goes_is_set_aside_and_the_job_stored(
    redis_store: Storage, url: str
) -> None:
    """One job the listing does not name is not read first: its HSET proves the key."""
    new = job()
    replace_key(url, f"{prefix('q')}job:{new.id}", "list", b"a stray writer's")
    assert redis_store.enqueue(new) == new.id
    assert drain(redis_store) == [new.id]
    assert redis.Redis.from_url(url).type(f"{prefix('q')}corrupt:job:{new.id}") == b"list"


def test_a_listed_id_whose_record_expired_is_stored_anew_and_listed_anew(
    redis_store: Storage, url: str
) -> None:
    first = job()
    redis_store.enqueue(first)
    [lease] = redis_store.lease("q", "d1", count=1, lease_for=30)
    assert redis_store.ack(lease, Record(first, State.SUCCEEDED, updated=time.time()), 60)
    client = redis.Redis.from_url(url)
    client.delete(f"{prefix('q')}job:{first.id}")  # gone (as a record with a TTL goes)
    assert client.zscore(listing_key("q"), first.id) == first.created  # listed, its hash gone
    again = Job(first.id, "q", {"n": 2}, created=first.created + 5)
    assert redis_store.enqueue(again) == first.id
    assert client.zscore(listing_key("q"), first.id) == again.created
    [lease] = redis_store.lease("q", "d1", count=1, lease_for=30)
    assert lease.job_id == first.id and b'"n":2' in lease.raw


def test_a_job_due_now_is_dated_by_its_producer_and_waits_on_no_clock(
    redis_store: Storage,
) -> None:
    """No TIME for a job due now: its `updated` and `run_at` are its `created`, however far
    the producer's clock is from the Redis's; it is ready at once all the same."""
    behind = Job(new_id(), "q", {}, created=time.time() - 3600)
    redis_store.enqueue(behind)
    record = redis_store.record(behind.id)
    assert record is not None and record.state is State.QUEUED
    assert record.run_at == behind.created and record.updated == behind.created
    untimed = Job(new_id(), "q", {})  # created 0: no time given, the Redis clock's then
    timed = Job(new_id(), "q", {}, created=time.time() - 60)
    redis_store.enqueue_many([untimed, timed])
    record = redis_store.record(untimed.id)
    assert record is not None and record.run_at == pytest.approx(time.time(), abs=5)
    assert redis_store.record(timed.id).run_at == timed.created  # type: ignore[union-attr]
    assert drain(redis_store) == [behind.id, untimed.id, timed.id]


@pytest.mark.parametrize("name", ["seq", "ready", "scheduled", "jobs"])
def test_a_stray_queue_key_stops_the_chunk_before_it_writes(
    redis_store: Storage, url: str, name: str
) -> None:
    client = redis.Redis.from_url(url)
    key = prefix("q") + name
    replace_key(url, key, "list" if name != "seq" else "string", b"garbage")
    jobs = [job(n=n) for n in range(3)]
    if name == "jobs":  # the listing is rebuilt by its writers: set aside, the batch goes in
        assert redis_store.enqueue_many(jobs) == [j.id for j in jobs]
        assert client.type(key) == b"zset" and client.zcard(key) == 3
        return
    with pytest.raises(StorageError, match=f"{name} holds a"):
        redis_store.enqueue_many(jobs, delay=60 if name == "scheduled" else 0)
    written = [k for k in client.keys("jr:{q}:*") if k != key.encode()]
    assert written == []  # not a job hash, not a listing entry, not a counter step


def test_an_idempotency_key_of_the_wrong_type_is_set_aside(redis_store: Storage, url: str) -> None:
    replace_key(url, prefix("q") + "idem:k", "hash", b"garbage")
    first = job(idempotency_key="k")
    assert redis_store.enqueue_many([first, job(idempotency_key="k")], idempotency_ttl=60) == [
        first.id,
        first.id,
    ]
    assert drain(redis_store) == [first.id]


def test_a_round_that_fails_stops_the_batch_before_the_next_is_sent(
    redis_store: Storage, url: str
) -> None:
    """A large batch sends each round while the next is made: the round after a failed one
    is made, but must not be sent (the batch stops where it failed, as it did in turn)."""
    replace_key(url, prefix("b") + "seq", "list", b"garbage")
    first, broken, after = (
        [job("a", n=n) for n in range(CHUNK)],
        [job("b") for _ in range(CHUNK)],
        [job("a", n=CHUNK + n) for n in range(CHUNK)],
    )
    with pytest.raises(StorageError, match="seq holds a"):
        redis_store.enqueue_many(first + broken + after)
    assert drain(redis_store, "a") == [j.id for j in first]


def test_the_sending_thread_ends_with_its_storage_and_is_made_again_after_a_fork(
    redis_store: Storage, url: str
) -> None:
    """`close` stops the thread a large batch started; a child forked after one has no such
    thread, and its own large batch must not wait for it for ever."""
    store = open_storage(url)
    try:
        store.enqueue_many([job() for _ in range(CHUNK + 1)])
        assert "jobrunner-send" in {t.name.split("_")[0] for t in threading.enumerate()}
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports by its exit status)
            try:
                code = 0 if len(store.enqueue_many([job() for _ in range(CHUNK + 1)])) else 1
            finally:
                os._exit(code if "code" in locals() else 2)
        deadline = time.monotonic() + 30
        while (done := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        if done == (0, 0):
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        assert done[0] == child and os.waitstatus_to_exitcode(done[1]) == 0
        assert len(drain(store)) == 2 * (CHUNK + 1)
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("jobrunner-send")]
