"""What only the Redis storage has to prove: one slot per queue, tokens, atomic
scripts under concurrency, Redis time, prompt wake-ups and readable errors.

The shared behaviour is in test_storage_contract.py; these run against our own
redis-server (never the shared one), one of them in cluster mode.
"""

from __future__ import annotations

import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from garbage import inject_garbage, replace_key
from redis.crc import key_slot

from jobrunner.job import Job, Record, State, decode, new_id
from jobrunner.storage import Reclaimed, Redelivery, Storage, StorageError, open_storage
from jobrunner.storage.base import Cancel, Done
from jobrunner.storage.redis.keys import listing_key
from jobrunner.storage.redis.store import RedisStorage
from jobrunner.storage.search import Query

GLOBAL_KEYS = {"jr:queues", "jr:config", "jr:daemons"}


def job(queue: str = "q", **kw: Any) -> Job:
    return Job(id=new_id(), queue=queue, payload={}, created=time.time(), **kw)


def record_of(j: Job, state: State = State.SUCCEEDED, **kw: Any) -> Record:
    return Record(j, state, updated=time.time(), **kw)


def acked(store: RedisStorage, count: int, keeps: list[float]) -> list[str]:
    """`count` new jobs of q enqueued, leased and acknowledged, each kept for its entry of
    `keeps` (the last entry for the rest); their ids."""
    for _ in range(count):
        store.enqueue(job())
    leases = store.lease("q", "d1", count=count, lease_for=30)
    for n, lease in enumerate(leases):
        keep = keeps[min(n, len(keeps) - 1)]
        assert store.ack(lease, record_of(decode(lease.raw)), keep_for=keep)
    return [lease.job_id for lease in leases]


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStorage]:
    storage = RedisStorage.from_url(redis_url)
    yield storage
    storage.close()


def workload(s: Storage) -> None:
    """Every public method once or more, on two queues."""
    for queue in ("emails", "reports"):
        first, keyed = job(queue), job(queue, idempotency_key="user-1")
        s.enqueue(first)
        s.enqueue(keyed, idempotency_ttl=60)
        s.enqueue(job(queue, priority=0), delay=30)
        a, b = s.lease(queue, "d1", count=2, lease_for=0.05)
        s.retry(a, first.next_attempt(), 0.0, record_of(first, State.RETRYING))
        s.bury(b, record_of(keyed, State.DEAD, reason="boom"), 60)
        s.take(queue, 5, 1.0)
        s.lease(queue, "d2", count=1, lease_for=0.05)
        assert s.replay(keyed.id)
        s.lease(queue, "d1", count=1, lease_for=30)
    time.sleep(0.1)
    assert len(s.reclaim({"emails": Redelivery(max_deliveries=1)}, Redelivery())) == 2
    assert s.extend("d1", 30) == 2
    assert s.release("d1") == 2
    assert s.purge() == 1
    assert s.record(first.id) is not None
    s.stats(), s.dead(), s.woken(s.moment(), ["emails", "reports"], 0.01)
    s.holding(["emails", "reports"])
    s.publish({"generation": 1})
    s.beat("d1", {"pid": 1}, 10)
    s.daemons(), s.expire()
    assert len(s.jobs(Query(limit=500)).records) == 5


def test_keys_of_one_queue_share_its_hash_tag(store: RedisStorage, redis_url: str) -> None:
    workload(store)
    client = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in client.scan_iter(count=1000)]
    client.close()
    tagged = [k for k in keys if k.startswith("jr:{")]
    assert {k[4 : k.index("}")] for k in tagged} == {"emails", "reports"}
    for key in tagged:
        queue = key[4 : key.index("}")]
        assert key_slot(key.encode()) == key_slot(f"jr:{{{queue}}}:ready".encode()), key
    untagged = set(keys) - set(tagged)
    assert untagged <= GLOBAL_KEYS | {"jr:daemon:d1"}, untagged


def test_every_script_is_valid_on_a_redis_cluster(cluster_url: str) -> None:
    """Cluster mode refuses a script whose keys span slots (CROSSSLOT)."""
    storage = open_storage(cluster_url)
    try:
        workload(storage)
    finally:
        storage.close()


def test_a_stray_key_where_the_job_listing_belongs_is_set_aside(
    store: RedisStorage, redis_url: str
) -> None:
    """The listing is an index the queue can do without: set aside, it starts anew."""
    store.enqueue(job())
    replace_key(redis_url, listing_key("q"), "string", b"not a zset")
    assert store.jobs(Query()).records == ()  # read: set aside
    later = job()
    store.enqueue(later)
    assert [r.job.id for r in store.jobs(Query()).records] == [later.id]
    replace_key(redis_url, listing_key("q"), "list", b"not a zset")
    last = job()
    store.enqueue(last)  # written: set aside by the enqueue script's check
    assert [r.job.id for r in store.jobs(Query()).records] == [last.id]
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.type("jr:{q}:corrupt:jobs") == b"list"
        assert b"jobs" in client.hgetall("jr:{q}:corrupt")
    finally:
        client.close()


def test_a_lease_that_finds_no_job_checks_only_the_keys_it_reads(
    store: RedisStorage, redis_url: str
) -> None:
    """It writes nothing, so a stray key where the leases belong costs nothing while the
    queue is empty (6 commands a call, not 9); the first job to lease finds it, and waits."""
    replace_key(redis_url, "jr:{q}:leased", "string", b"a stray writer's")
    empty = store.lease_many({"q": 5}, "d1", lease_for=30)["q"]
    assert empty.leases == [] and empty.due_in is None
    assert "q" not in store._broken
    waiting = job()
    store.enqueue(waiting)
    assert store.lease_many({"q": 5}, "d1", lease_for=30)["q"].leases == []
    assert "q" in store._broken  # the queue waits until the key is fixed
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.type("jr:{q}:leased") == b"string"
        assert client.zrange("jr:{q}:ready", 0, -1) == [waiting.id.encode()]
    finally:
        client.close()


def test_expire_sweeps_listing_entries_whose_job_is_gone(
    store: RedisStorage, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of each listing a call, oldest first, going on where the last call stopped."""
    from jobrunner.storage.redis import upkeep as module

    monkeypatch.setattr(module, "BATCH", 2)
    jobs = [Job(new_id(), "q", {}, created=time.time() - 10 + n) for n in range(5)]
    for j in jobs:
        store.enqueue(j)
    for lease in store.lease("q", "d1", count=4, lease_for=30):  # dead: expire by their TTL
        store.bury(lease, record_of(decode(lease.raw), State.DEAD), keep_for=0.05)
    time.sleep(0.1)
    client = redis.Redis.from_url(redis_url)
    try:
        left = []
        for _ in range(3):
            store.expire()
            left.append(client.zcard(listing_key("q")))
        assert left == [3, 1, 1]
    finally:
        client.close()


def test_a_stale_lease_changes_nothing(store: RedisStorage) -> None:
    j = job()
    store.enqueue(j)
    [old] = store.lease("q", "d1", count=1, lease_for=0.05)
    time.sleep(0.1)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [j.id]
    [new] = store.lease("q", "d2", count=1, lease_for=30)
    assert new.token != old.token
    assert not store.ack(old, record_of(j), keep_for=60)
    assert not store.retry(old, j.next_attempt(), 0.0, record_of(j, State.RETRYING))
    assert not store.bury(old, record_of(j, State.DEAD, reason="late"), 60)
    rec = store.record(j.id)
    assert rec is not None and rec.state is State.RUNNING
    assert [a.outcome for a in rec.attempts] == ["lost"]
    assert store.stats()["q"] == store.stats()["q"].__class__(running=1)
    assert store.ack(new, record_of(j), keep_for=60)


def test_the_same_settle_repeated_acts_once(store: RedisStorage) -> None:
    """A client retrying after a lost reply must not be told its lease was lost."""
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    retried = record_of(j, State.RETRYING)
    assert store.retry(lease, j.next_attempt(), 0.0, retried)
    assert store.retry(lease, j.next_attempt(), 0.0, retried)
    assert not store.ack(lease, record_of(j), keep_for=60)  # another call with that token
    [again] = store.lease("q", "d1", count=10, lease_for=30)
    assert decode(again.raw).attempt == 2
    assert store.ack(again, record_of(j), keep_for=60)
    assert store.ack(again, record_of(j), keep_for=60)
    assert store.stats().get("q") is None


def test_lease_is_atomic_under_concurrent_leasers(redis_url: str) -> None:
    """8 clients and 4 threads sharing a 9th race, while delayed jobs come due."""
    producer = RedisStorage.from_url(redis_url)
    ids = {producer.enqueue(job()) for _ in range(400)}
    ids |= {producer.enqueue(job(priority=0), delay=0.2) for _ in range(400)}
    shared = RedisStorage.from_url(redis_url)
    stores = [RedisStorage.from_url(redis_url) for _ in range(8)] + [shared] * 4
    got: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 10

    def drain(s: RedisStorage, n: int) -> None:
        while time.monotonic() < deadline:
            leases = s.lease("q", f"d{n}", count=1 + n % 13, lease_for=30)
            with lock:
                got.extend(x.job_id for x in leases)
                if len(got) >= len(ids):
                    return

    threads = [threading.Thread(target=drain, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == len(ids) and set(got) == ids
    assert producer.stats()["q"].running == len(ids)
    for s in {*stores, producer}:
        s.close()


def test_times_come_from_redis_not_the_host_clock(
    store: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 365 * 86400)  # a host a year ahead
    store.enqueue(job())
    store.enqueue(job(), delay=0.2)
    assert len(store.lease("q", "d1", count=5, lease_for=0.1)) == 1
    time.sleep(0.25)
    assert len(store.lease("q", "d1", count=5, lease_for=30)) == 1  # due by Redis time
    assert len(store.reclaim({}, Redelivery())) == 1  # expired by Redis time
    assert [store.take("q", 1, 0.2), store.take("q", 1, 0.2) > 0] == [0.0, True]


def test_a_stray_message_past_max_deliveries_is_kept_as_dead(
    store: RedisStorage, redis_url: str
) -> None:
    inject_garbage(redis_url, "q", b"\x80 not json")
    [lease] = store.lease("q", "d1", count=1, lease_for=0.05)
    assert lease.raw == b"\x80 not json"
    time.sleep(0.1)
    assert store.reclaim({}, Redelivery(max_deliveries=1)) == [
        Reclaimed(lease.job_id, lease.queue, buried=True)
    ]
    [dead] = store.dead("q")
    assert dead.job.id == lease.job_id and "not json" in dead.job.payload
    assert "max_deliveries" in dead.reason and [a.outcome for a in dead.attempts] == ["lost"]


def _wake_latency(waiter: RedisStorage, trigger: Any) -> float:
    since = waiter.moment()
    woke = threading.Event()
    thread = threading.Thread(target=lambda: (waiter.woken(since, ["q"], 5.0), woke.set()))
    thread.start()
    time.sleep(0.05)
    start = time.monotonic()
    trigger()
    assert woke.wait(2.0)
    thread.join()
    return time.monotonic() - start


def test_woken_returns_promptly_on_enqueue_and_on_wake(redis_url: str) -> None:
    waiter, producer = RedisStorage.from_url(redis_url), RedisStorage.from_url(redis_url)
    waiter.woken(waiter.moment(), ["q"], 0.2)  # subscribed from here on
    on_enqueue = []
    for _ in range(5):
        on_enqueue.append(_wake_latency(waiter, lambda: producer.enqueue(job())))
        waiter.lease("q", "d1", count=10, lease_for=30)  # empty again
    on_wake = [_wake_latency(waiter, waiter.wake) for _ in range(5)]
    assert statistics.median(on_enqueue) < 0.05, on_enqueue
    assert statistics.median(on_wake) < 0.05, on_wake
    waiter.close()
    producer.close()


def test_a_delayed_job_signals_and_says_when_it_is_due(store: RedisStorage) -> None:
    store.woken(store.moment(), ["q"], 0.2)  # subscribed from here on
    since = store.moment()
    store.enqueue(job(), delay=0.3)  # a new first scheduled job: the fetcher must learn of it
    assert store.woken(since, ["q"], 2.0)[1] == {"q"}
    found = store.lease_many({"q": 1}, "d1", lease_for=30)["q"]
    assert found.leases == [] and found.due_in is not None and 0.1 < found.due_in <= 0.3
    time.sleep(found.due_in)
    assert len(store.lease("q", "d1", count=1, lease_for=30)) == 1


def test_unreachable_redis_is_a_storage_error_without_the_password() -> None:
    from servers import free_port

    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    storage = open_storage(url)
    assert storage.url == f"redis://:***@{url.split('@')[1]}"
    start = time.monotonic()
    with pytest.raises(StorageError) as caught:
        storage.enqueue(job())
    assert time.monotonic() - start < 3
    message = str(caught.value)
    assert message.startswith("cannot reach redis://:***@127.0.0.1:") and "enqueueing" in message
    assert "s3cret-pw" not in message and caught.value.__suppress_context__
    storage.close()


def test_wrong_password_and_lost_server_are_storage_errors(tmp_path: Path) -> None:
    from servers import RedisServer

    server = RedisServer(tmp_path)
    try:
        admin = redis.Redis.from_url(server.url)
        admin.config_set("requirepass", "right-pw")
        admin.close()
        wrong = open_storage(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
        with pytest.raises(StorageError, match=r"refused our credentials") as caught:
            wrong.stats()
        assert "wrong-pw" not in str(caught.value)
        right = open_storage(f"redis://:right-pw@127.0.0.1:{server.port}/0")
        right.enqueue(job())
    finally:
        server.stop()
    with pytest.raises(StorageError, match=r"^cannot reach redis://:\*\*\*@.* while leasing"):
        right.lease("q", "d1", count=1, lease_for=30)
    right.close()


def test_a_bad_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match=r"bad storage URL 'redis://:\*\*\*@host:port/0'"):
        open_storage("redis://:pw@host:port/0")


def test_a_waiter_survives_a_redis_restart(tmp_path: Path) -> None:
    from servers import free_port

    port = free_port()
    server = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    waiter, producer = RedisStorage.from_url(url), RedisStorage.from_url(url)
    try:
        waiter.woken(waiter.moment(), ["q"], 0.2)  # subscribed
        stop(server)
        time.sleep(0.6)  # the listener notices, and retries with backoff
        server = start_redis(port, tmp_path)
        deadline = time.monotonic() + 10
        while not waiter._relay.subscribe(0.1):
            assert time.monotonic() < deadline, "the wake listener did not resubscribe"
        assert _wake_latency(waiter, lambda: producer.enqueue(job())) < 0.05
    finally:
        waiter.close()
        producer.close()
        stop(server)


def test_closing_ends_the_wake_listener_without_waiting_out_its_wait(redis_url: str) -> None:
    """An idle listener waits LISTEN_WAIT (5 s) for a message at a time; close ends it at
    once (a message on its own channel), not at the end of that wait."""
    storage = RedisStorage.from_url(redis_url)
    deadline = time.monotonic() + 10
    while not storage._relay.subscribe(0.1):
        assert time.monotonic() < deadline, "the wake listener did not subscribe"
    listener = storage._relay._thread
    assert listener is not None
    storage._relay.close()  # waits a second at most for the listener, with its socket open
    assert not listener.is_alive()
    storage.close()


def test_closing_while_redis_does_not_answer_takes_a_second_at_most(tmp_path: Path) -> None:
    """A server that hangs (SIGSTOP) cannot hold close(): the message that ends the
    listener's wait is sent from a thread of its own, and close waits CLOSE_WAIT for it."""
    from servers import free_port

    port = free_port()
    server = start_redis(port, tmp_path)
    storage = RedisStorage.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        deadline = time.monotonic() + 10
        while not storage._relay.subscribe(0.1):
            assert time.monotonic() < deadline, "the wake listener did not subscribe"
        server.send_signal(signal.SIGSTOP)
        began = time.monotonic()
        storage.close()
        assert time.monotonic() - began < 2.5  # a publish waiting on the server: 4 s or more
    finally:
        server.send_signal(signal.SIGCONT)
        stop(server)


def test_rediss_urls_use_tls() -> None:
    storage = RedisStorage.from_url("rediss://:pw@redis.example:6380/2")
    pool = storage._client.connection_pool
    assert pool.connection_class is redis.SSLConnection and storage.url.startswith("rediss://:***@")
    storage.close()


def start_redis(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A redis-server of our own on `port`, answering PING when this returns."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [binary, *args, *extra, "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client, deadline = redis.Redis(port=port, socket_timeout=1), time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    client.close()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(5)


# -- a one-node Redis Cluster: every slot on one server ----------------------


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from servers import free_port

    workdir, port = tmp_path_factory.mktemp("cluster"), free_port()
    process = start_redis(
        port,
        workdir,
        *("--cluster-enabled", "yes", "--cluster-config-file", str(workdir / "nodes.conf")),
        *("--cluster-port", str(free_port())),  # the default, port + 10000, may not exist
    )
    client = redis.Redis(port=port)
    client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
        assert time.monotonic() < deadline, "cluster did not become ready"
        time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    stop(process)


def test_a_frozen_server_fails_a_producer_within_seconds(tmp_path: Path) -> None:
    """SIGSTOP stands for a server that accepts connections but never answers (a failover in
    progress, a partition): `jobrunner enqueue` and `Client` say so in seconds, never hang."""
    import signal

    from conftest import run_cli
    from servers import RedisServer

    from jobrunner import Client, EnqueueError

    server = RedisServer(tmp_path)
    try:
        storage = open_storage(server.url)
        storage.publish({"generation": 1, "hash": "x", "queues": {"q": {}}, "crons": {}})
        storage.close()
        with Client(server.url) as client:
            client.published()  # connected before the freeze
            server.process.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises((StorageError, EnqueueError)):
                client.enqueue("q", {}, priority="normal")
            assert time.monotonic() - started < 15
        started = time.monotonic()
        result = run_cli("enqueue", "q", "--storage", server.url)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert time.monotonic() - started < 20
    finally:
        server.process.send_signal(signal.SIGCONT)
        server.stop()


def test_a_stray_key_where_the_history_belongs_costs_the_counts_not_the_settlement(
    store: RedisStorage,
) -> None:
    store._client.set("jr:{q}:history", "a stray writer's string")
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.ack(lease, record_of(j), keep_for=60)
    assert store.record(j.id).state is State.SUCCEEDED  # type: ignore[union-attr]
    assert store.history("q", time.time() - 60) == []
    store.expire()  # the trim leaves the stray key alone
    assert store._client.get("jr:{q}:history") == b"a stray writer's string"
    assert "q" not in store.stats() or not store.stats()["q"].broken


def test_holding_counts_a_stray_key_as_a_job_so_leasing_finds_it(
    store: RedisStorage, redis_url: str
) -> None:
    """A ready or scheduled key of the wrong type cannot say what it holds: the queue is
    named, and its lease script sets the key aside or marks the queue broken (as it says)."""
    replace_key(redis_url, "jr:{stray}:scheduled", "string", b"not a zset")
    store.enqueue(job("later"), delay=3600)
    assert store.holding(["stray", "later", "empty"]) == {"stray"}


def test_a_single_call_loads_its_script_again_after_a_script_flush(
    store: RedisStorage, redis_url: str
) -> None:
    """One script call goes without a pipeline (contain.py `_single`): NOSCRIPT (a restarted
    server, SCRIPT FLUSH) loads the script and calls again, as the pipelined calls do."""
    first = job()
    store.enqueue(first)
    redis.Redis.from_url(redis_url).script_flush()
    second = job()
    assert store.enqueue(second) == second.id
    redis.Redis.from_url(redis_url).script_flush()
    leased = store.lease("q", "d1", count=5, lease_for=30)
    assert [lease.job_id for lease in leased] == [first.id, second.id]


# -- jr:{Q}:dlv, the deliveries an ack reads for a batch at once ---------------------------


def deliveries(url: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(url)
    try:
        return client.hgetall("jr:{q}:dlv")  # type: ignore[no-any-return]
    finally:
        client.close()


def test_the_delivery_index_names_exactly_the_leased_jobs(
    store: RedisStorage, redis_url: str
) -> None:
    """Every way a delivery ends takes its entry: ack, retry, bury, a reclaim, a release."""
    jobs = [job() for _ in range(6)]
    for j in jobs:
        store.enqueue(j)
    leases = store.lease("q", "d1", count=5, lease_for=30)
    assert {k.decode(): v.decode() for k, v in deliveries(redis_url).items()} == {
        x.job_id: f"{x.token.rpartition(':')[2]} d1" for x in leases
    }
    a, b, c, d, e = leases
    assert store.ack(a, record_of(jobs[0]), keep_for=60)
    assert store.retry(b, jobs[1].next_attempt(), 60.0, record_of(jobs[1], State.RETRYING))
    assert store.bury(c, record_of(jobs[2], State.DEAD, reason="boom"), 60)
    assert set(deliveries(redis_url)) == {d.job_id.encode(), e.job_id.encode()}
    assert store.release("d1") == 2
    assert deliveries(redis_url) == {}
    [late] = store.lease("q", "d2", count=1, lease_for=0.05)
    time.sleep(0.1)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [late.job_id]
    assert deliveries(redis_url) == {}


def test_a_cancel_request_is_ended_by_the_ack_of_the_delivery_that_follows_a_release(
    store: RedisStorage, redis_url: str
) -> None:
    """A job with a cancel request gets no dlv entry: its ack reads, and blanks, the request."""
    j = job()
    store.enqueue(j)
    store.lease("q", "d1", count=1, lease_for=30)
    assert store.cancel(j.id, 60) is Cancel.REQUESTED
    store.release("d1")  # handed back at shutdown, the request still on it
    [again] = store.lease("q", "d2", count=1, lease_for=30)
    assert deliveries(redis_url) == {}
    assert store.ack(again, record_of(j), keep_for=60)
    client = redis.Redis.from_url(redis_url)
    assert client.hget(f"jr:{{q}}:job:{j.id}", "cancel") in (None, b"")
    client.close()


def test_a_stray_key_where_the_delivery_index_goes_is_set_aside_and_acks_go_on(
    store: RedisStorage, redis_url: str
) -> None:
    """Each job's hash has its delivery too: without the index the ack fences by the hash."""
    jobs = [job() for _ in range(3)]
    for j in jobs:
        store.enqueue(j)
    first, second = store.lease("q", "d1", count=2, lease_for=30)
    replace_key(redis_url, "jr:{q}:dlv", "string", b"a stray writer's")
    assert store.ack_many(
        [Done(first, record_of(jobs[0]), 60), Done(second, record_of(jobs[1]), 60)]
    ) == [True, True]
    client = redis.Redis.from_url(redis_url)
    assert client.type("jr:{q}:corrupt:dlv") == b"string"
    client.close()
    [third] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.ack(third, record_of(jobs[2]), keep_for=60)
    stats = store.stats()["q"]
    assert (stats.ready, stats.running, stats.set_aside) == (0, 0, 1)


def test_expire_forgets_acknowledged_records_with_their_listing_entries(
    store: RedisStorage, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jr:{Q}:kept keeps an acknowledged record for its keep time, a batch a call."""
    from jobrunner.storage.redis import upkeep as module

    monkeypatch.setattr(module, "BATCH", 2)
    ids = acked(store, 6, [0.05] * 5 + [3600])
    time.sleep(0.1)
    assert store.expire() == 5
    client = redis.Redis.from_url(redis_url)
    try:
        assert [x.decode() for x in client.zrange(listing_key("q"), 0, -1)] == [ids[5]]
        assert [x.decode() for x in client.zrange("jr:{q}:kept", 0, -1)] == [ids[5]]
        assert client.ttl(f"jr:{{q}}:job:{ids[5]}") == -1  # no TTL: kept is its retention
    finally:
        client.close()
    assert [store.record(i) for i in ids[:5]] == [None] * 5
    assert store.record(ids[5]) is not None


def test_garbage_in_the_delivery_index_is_fenced_by_the_job_hash(
    store: RedisStorage, redis_url: str
) -> None:
    """A dlv entry is a shortcut, never the only word: bytes that name no delivery, or
    another delivery's number, send the ack to the job's hash, which knows."""
    jobs = [job() for _ in range(3)]
    for j in jobs:
        store.enqueue(j)
    first, second, third = store.lease("q", "d1", count=3, lease_for=30)
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset("jr:{q}:dlv", first.job_id, b"\xff not a delivery")
        n = int(second.token.rpartition(":")[2])
        client.hset("jr:{q}:dlv", second.job_id, f"{n + 1} d1")
    finally:
        client.close()
    stale = replace(third, token=third.token.rpartition(":")[0] + ":1")
    done = [Done(x, record_of(j), 60) for x, j in zip((first, second, stale), jobs, strict=True)]
    assert store.ack_many(done) == [True, True, False]
    assert store.ack(third, record_of(jobs[2]), keep_for=60)
    assert store.stats().get("q") is None


def test_a_stray_key_where_kept_goes_is_set_aside_and_the_ack_goes_on(
    store: RedisStorage, redis_url: str
) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    replace_key(redis_url, "jr:{q}:kept", "list", b"a stray writer's")
    assert store.ack(lease, record_of(j), keep_for=0.05)
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.type("jr:{q}:corrupt:kept") == b"list"
        assert client.zrange("jr:{q}:kept", 0, -1) == [j.id.encode()]
    finally:
        client.close()
    time.sleep(0.1)
    assert store.expire() == 1 and store.record(j.id) is None


def test_expire_leaves_a_backlog_beyond_its_time_budget_to_the_next_call(
    store: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch a queue at least, then no more once the budget is spent."""
    from jobrunner.storage.redis import upkeep as module

    monkeypatch.setattr(module, "BATCH", 2)
    monkeypatch.setattr(module, "EXPIRE_BUDGET", 0.0)
    jobs = [job() for _ in range(5)]
    for j in jobs:
        store.enqueue(j)
    for lease in store.lease("q", "d1", count=5, lease_for=30):
        assert store.ack(lease, record_of(decode(lease.raw)), keep_for=0.01)
    time.sleep(0.05)
    assert [store.expire() for _ in range(4)] == [2, 2, 1, 0]


def test_records_whose_kept_entries_went_with_a_stray_key_are_forgotten_all_the_same(
    store: RedisStorage, redis_url: str
) -> None:
    """A stray writer's key at jr:{Q}:kept is set aside, and the entries it replaced are
    gone: the sweep gives each acknowledged record its entry back from the keep time its
    hash notes, so expire forgets it after all (a record without one would stay forever)."""
    ids = acked(store, 3, [0.05, 0.05, 3600])
    replace_key(redis_url, "jr:{q}:kept", "string", b"a stray writer's")
    ids += acked(store, 1, [0.05])
    time.sleep(0.1)
    assert store.expire() == 1  # the one kept names now; the sweep finds the other three
    assert store.expire() == 2  # the two whose keep time is over
    assert [store.record(i) is None for i in ids] == [True, True, False, True]
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.zrange("jr:{q}:kept", 0, -1) == [ids[2].encode()]
        assert client.zrange(listing_key("q"), 0, -1) == [ids[2].encode()]
    finally:
        client.close()
