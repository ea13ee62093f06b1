"""Script calls sent packed through the client's pool (storage/redis/packed.py).

A single script call skips redis-py's `execute_command`: the bytes on the wire must be
those redis-py would send, an error reply must still be raised as redis-py raises it,
and a connection the server dropped must be made again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from jobrunner.job import Job, new_id
from jobrunner.storage.redis.packed import Packed, pack
from jobrunner.storage.redis.store import RedisStorage

ARG = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(),
    st.floats(),  # a delay or a lease's length: written as redis-py writes it (repr)
    # a name read back with surrogate escapes (a stray writer's bytes): sent as they were
    st.binary(min_size=1, max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ARG, min_size=1, max_size=12))
def test_a_packed_command_is_what_the_client_would_send(
    args: list[bytes | str | int | float],
) -> None:
    conn = redis.Connection(encoding_errors="surrogateescape")
    assert b"".join(pack(b"EVALSHA", *args)) == b"".join(conn.pack_command(b"EVALSHA", *args))


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStorage]:
    storage = RedisStorage.from_url(redis_url)
    yield storage
    storage.close()


def job(queue: str = "q") -> Job:
    return Job(id=new_id(), queue=queue, payload={"n": 1})


def test_an_error_reply_is_raised_as_the_client_raises_it(redis_url: str) -> None:
    packed = Packed(redis.Redis.from_url(redis_url))
    with pytest.raises(redis.exceptions.NoScriptError):
        packed.call(pack(b"EVALSHA", "0" * 40, 0))
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        packed.call(pack(b"GET"))
    assert packed.call(pack(b"PING")) in (b"PONG", "PONG", True)


def test_a_single_call_reconnects_when_the_server_dropped_its_connection(
    store: RedisStorage, redis_url: str
) -> None:
    """A connection the server closed (a restart, a proxy's idle timeout) is made again at
    the next script call, not reported as the storage being unreachable."""
    first = job()
    store.enqueue(first)
    client = redis.Redis.from_url(redis_url)
    assert client.client_kill_filter(_type="normal", skipme=True) >= 1
    second = job()
    assert store.enqueue(second) == second.id
    client.client_kill_filter(_type="normal", skipme=True)
    client.close()
    leased = store.lease("q", "d1", count=5, lease_for=30)
    assert [lease.job_id for lease in leased] == [first.id, second.id]
