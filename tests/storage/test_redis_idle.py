"""What an idle daemon's chores cost on Redis, however many queues there are.

Every few seconds the daemon reads which queues are paused and which hold an expired
lease, and once a minute it expires old records (daemon/upkeep.py). With none paused,
none leased and nothing to expire, each read is one EXISTS over every queue's key, not
one command per queue; as soon as one queue holds what a read looks for, the full look
per queue runs, so what it finds is the same as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage.base import Pause, Redelivery
from jobrunner.storage.redis.store import RedisStorage

QUEUES = 300
IDLE_LOOK = 2  # SMEMBERS jr:queues, EXISTS of every queue's key
IGNORED = {"cmdstat_config|resetstat", "cmdstat_info"}  # the counting itself


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStorage]:
    storage = RedisStorage.from_url(redis_url)
    client = redis.Redis.from_url(redis_url)
    client.sadd("jr:queues", *[f"q{n}" for n in range(QUEUES)])
    client.close()
    storage.queue_names()  # connected: the connection's own setup is not counted
    yield storage
    storage.close()


def commands(url: str, act: Callable[[], object]) -> int:
    """Commands the server ran during `act()`."""
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    act()
    stats = client.info("commandstats")
    client.close()
    return sum(s["calls"] for name, s in stats.items() if name not in IGNORED)


def test_reading_the_pauses_of_idle_queues_is_one_command(
    store: RedisStorage, redis_url: str
) -> None:
    assert commands(redis_url, store.paused) == IDLE_LOOK
    store.pause(Pause("q7", since=time.time(), by="test", reason="maintenance"))
    assert set(store.paused()) == {"q7"}  # one paused: every key is read again
    store.resume("q7")
    assert store.paused() == {}


def test_looking_for_expired_leases_among_idle_queues_is_one_command(
    store: RedisStorage, redis_url: str
) -> None:
    reclaim = lambda: store.reclaim({}, Redelivery())  # noqa: E731
    assert commands(redis_url, reclaim) == IDLE_LOOK
    job = Job(new_id(), "q42", {"n": 1}, created=time.time())
    store.enqueue(job)
    [lease] = store.lease("q42", "gone-daemon", count=1, lease_for=0.05)
    time.sleep(0.1)
    assert [lost.job_id for lost in store.reclaim({}, Redelivery())] == [lease.job_id]


def test_expiring_among_idle_queues_is_one_command_a_step(
    store: RedisStorage, redis_url: str
) -> None:
    """Once a minute `expire` forgets acknowledged records and dead jobs past retention,
    sweeps the listings and trims the minute tallies, a script per queue each: among queues
    that never held a job, one EXISTS a step. Once one queue holds what a step reads, that
    step runs for every queue."""
    daemons = commands(redis_url, store.daemons)
    assert commands(redis_url, store.expire) == IDLE_LOOK + 3 + daemons
    job = Job(new_id(), "q42", {"n": 1}, created=time.time())
    store.enqueue(job)
    [lease] = store.lease("q42", "d1", count=1, lease_for=30)
    store.bury(lease, Record(job, State.DEAD, updated=time.time()), keep_for=0.05)
    time.sleep(0.1)
    assert store.expire() == 1
    assert store.record(job.id) is None


def test_a_look_answers_for_the_queues_and_keys_there_now(store: RedisStorage) -> None:
    """The EXISTS of a look is packed once for its queues and sent as packed
    (storage/redis/looks.py): a queue registered since, and a key a stray writer set,
    are found at the next look all the same."""
    assert store.paused() == {}  # packed for QUEUES queues
    client = redis.Redis.from_url(store._raw_url)
    client.sadd("jr:queues", "late")  # another daemon's new queue
    client.set("jr:{late}:paused", Pause("late", since=1.0, by="x", reason="y").encode())
    client.close()
    assert "late" in store.queue_names()
    assert set(store.paused()) == {"late"}


def test_a_look_reconnects_when_the_server_dropped_its_connection(
    store: RedisStorage, redis_url: str
) -> None:
    """The packed look takes a connection from the client's pool, as any command does: a
    connection the server closed (a restart, a proxy's idle timeout) is made again at
    the next look, not reported as the storage being unreachable."""
    assert store.paused() == {}
    client = redis.Redis.from_url(redis_url)
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1
    client.close()
    assert store.paused() == {}
    store.pause(Pause("q3", since=time.time(), by="test", reason="r"))
    client = redis.Redis.from_url(redis_url)
    client.client_kill_filter(_type="normal", skipme=True)
    client.close()
    assert set(store.paused()) == {"q3"}


def test_a_look_at_an_unreachable_server_is_a_storage_error() -> None:
    """The packed look connects through the pool itself: an unreachable server is the
    same `StorageError` as for any other call (the daemon's chores mark it unhealthy),
    in seconds, without the URL's password."""
    from servers import free_port

    from jobrunner.storage import StorageError

    storage = RedisStorage.from_url(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0")
    start = time.monotonic()
    with pytest.raises(StorageError) as caught:
        storage.holding([f"q{n}" for n in range(QUEUES)])
    assert time.monotonic() - start < 3
    message = str(caught.value)
    assert message.startswith("cannot reach redis://:***@127.0.0.1:"), message
    assert "looking for jobs" in message and "s3cret-pw" not in message
    storage.close()
