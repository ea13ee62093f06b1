"""Storage URLs for Redis Cluster and Sentinel, and the `durability` option on every Redis URL.

A bad URL is a StorageError that shows the right forms, never a traceback; a password
never appears in it.
"""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster
from redis.sentinel import SentinelConnectionPool

from jobrunner.daemon.start import local
from jobrunner.storage import StorageError, open_storage
from jobrunner.storage.redis.connect import Durability, connect


def test_sentinel_url_names_hosts_service_and_database() -> None:
    client, durability = connect("redis+sentinel://:s3cret@10.0.0.1:26379,h2:26380/jobs/2")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "jobs"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "s3cret"
    hosts = [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ]
    assert hosts == [("10.0.0.1", 26379), ("h2", 26380)]
    assert durability == Durability()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("", Durability()),
        ("?durability=async", Durability()),
        ("?durability=replicated", Durability(1, 1000)),
        ("?durability=replicated&replicas=2&wait_timeout=250ms", Durability(2, 250)),
        ("?durability=replicated&wait_timeout=2s", Durability(1, 2000)),
    ],
)
def test_durability_options(options: str, expected: Durability) -> None:
    _, durability = connect("redis://127.0.0.1:1/0" + options)
    assert durability == expected
    _, durability = connect("redis+sentinel://127.0.0.1:1/jr" + options)
    assert durability == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://127.0.0.1:26379", "name the Sentinel service"),
        ("redis+sentinel://127.0.0.1:26379/jr/x", "database 'x' is not a number"),
        ("redis+sentinel://127.0.0.1/jr", "'127.0.0.1' is not host:port"),
        ("redis+cluster://127.0.0.1:7000,127.0.0.1:x", "'127.0.0.1:x' is not host:port"),
        ("redis+cluster://127.0.0.1:7000/0", "no database number"),
        ("redis+cluster://127.0.0.1:7000?durability=replicated", "not supported on a cluster"),
        ("redis+sentinel://h:1/jr?durability=sync", "use durability=async or durability="),
        ("redis://h:1/0?durability=replicated&replicas=0", "replicas=0: use a whole number"),
        ("redis://h:1/0?durability=replicated&wait_timeout=soon", "like wait_timeout=500ms"),
        ("redis://h:1/0?durability=replicated&wait_timeout=9s", "keep it under 4s"),
        ("redis+sentinel://h:1/jr?colour=blue", "unknown option(s) colour"),
        ("redis+sentinel://h:1/jr?socket_timeout=x", "socket_timeout is in seconds"),
    ],
)
def test_bad_urls_teach_the_right_form(url: str, says: str) -> None:
    with pytest.raises(StorageError) as caught:
        connect(url)
    message = str(caught.value)
    assert says in message
    assert "redis+sentinel://[:password@]host:port" in message


def test_a_bad_url_does_not_show_its_password() -> None:
    with pytest.raises(StorageError) as caught:
        open_storage("redis+sentinel://:hunter2@h:1")
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_cluster_url_opens_a_cluster_client(cluster_url: str) -> None:
    client, _ = connect(cluster_url)
    assert isinstance(client, RedisCluster)
    assert len(client.get_primaries()) == 3
    client.close()


def test_unknown_scheme_lists_the_new_forms() -> None:
    with pytest.raises(StorageError, match="redis\\+cluster://host:port,host:port"):
        open_storage("redis+clustre://h:1")


@pytest.mark.parametrize(
    ("url", "is_local"),
    [
        ("redis+cluster://127.0.0.1:7000,127.0.0.2:7001,localhost:7002", True),
        ("redis+cluster://127.0.0.1:7000,10.0.0.5:7001", False),
        ("redis+sentinel://:pw@[::1]:26379,localhost:26380/jr/0", True),
        ("redis+sentinel://sentinel.internal:26379/jr", False),
        ("rediss+cluster://127.0.0.1:7000", True),
        ("redis://127.0.0.1:6379/0", True),
        ("redis://cache.internal:6379/0", False),
        ("sqlite:///state.db", True),
    ],
)
def test_local_needs_every_host_on_loopback(url: str, is_local: bool) -> None:
    assert local(url) is is_local


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://:pw@127.0.0.1:1", "Redis Cluster cannot be connected"),
        ("redis+sentinel://:pw@127.0.0.1:1/jr", "check the Sentinel addresses and the service"),
    ],
)
def test_an_unreachable_cluster_or_sentinel_is_a_storage_error(url: str, says: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_storage(url).stats()
    message = str(caught.value)
    assert message.startswith("cannot reach redis+") and says in message
    assert "pw" not in message.replace("***", "") and "<redis" not in message
