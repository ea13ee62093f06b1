"""The storage contract: every backend passes the same tests (huey's StorageTests idea).

Each test runs against SQLite in a temp dir, our own redis-server, and our own Redis Cluster.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from garbage import corrupt_record, inject_garbage, overwrite_value, replace_key, write_pause

from jobrunner.job import Attempt, Job, Record, State, Unreadable, decode, new_id
from jobrunner.storage import (
    Cancel,
    Done,
    Found,
    Pause,
    Reclaimed,
    Redelivery,
    Storage,
    deadletter,
    open_storage,
    records,
    search,
)
from jobrunner.storage.redis import upkeep as redis_upkeep
from jobrunner.storage.sqlite import store as sqlite_store

BACKENDS = ["sqlite", "redis", "cluster"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each contract test runs on SQLite, on one redis-server, and on a three-node cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def job(queue: str = "q", payload: Any = None, **kw: Any) -> Job:
    return Job(id=new_id(), queue=queue, payload=payload or {}, created=time.time(), **kw)


def record_of(j: Job, state: State = State.SUCCEEDED, **kw: Any) -> Record:
    return Record(j, state, updated=time.time(), **kw)


def test_enqueue_lease_ack(store: Storage) -> None:
    j = job(payload={"n": 1})
    assert store.enqueue(j) == j.id
    assert store.record(j.id).state is State.QUEUED  # type: ignore[union-attr]
    [lease] = store.lease("q", "d1", count=5, lease_for=30)
    assert decode(lease.raw) == j
    assert lease.deliveries == 0
    assert store.record(j.id).state is State.RUNNING  # type: ignore[union-attr]
    assert store.lease("q", "d1", count=5, lease_for=30) == []
    assert store.ack(lease, record_of(j, result=42), keep_for=60)
    rec = store.record(j.id)
    assert rec is not None and rec.state is State.SUCCEEDED and rec.result == 42
    assert store.stats().get("q", None) is None or store.stats()["q"].running == 0


def test_queues_are_separate(store: Storage) -> None:
    store.enqueue(job("a"))
    assert store.lease("b", "d1", count=1, lease_for=30) == []
    assert len(store.lease("a", "d1", count=1, lease_for=30)) == 1


def test_priority_then_fifo(store: Storage) -> None:
    low, n1, n2, crit = job(priority=3), job(priority=2), job(priority=2), job(priority=0)
    for j in (low, n1, n2, crit):
        store.enqueue(j)
    leases = store.lease("q", "d1", count=10, lease_for=30)
    assert [decode(x.raw).id for x in leases] == [crit.id, n1.id, n2.id, low.id]


def test_batches_are_disjoint_across_connections(url: str) -> None:
    stores = [open_storage(url) for _ in range(4)]
    ids = {stores[0].enqueue(job()) for _ in range(200)}
    got: list[str] = []
    lock = threading.Lock()

    def drain(s: Storage) -> None:
        while True:
            leases = s.lease("q", f"d{id(s)}", count=7, lease_for=30)
            if not leases:
                return
            with lock:
                got.extend(x.job_id for x in leases)

    threads = [threading.Thread(target=drain, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(got) == sorted(ids)


def test_delayed_job_waits_and_keeps_priority(store: Storage) -> None:
    later = job(priority=0)
    store.enqueue(later, delay=0.3)
    now = job(priority=3)
    store.enqueue(now)
    assert store.record(later.id).state is State.SCHEDULED  # type: ignore[union-attr]
    assert store.stats()["q"].scheduled == 1
    [first] = store.lease("q", "d1", count=10, lease_for=30)
    assert first.job_id == now.id
    time.sleep(0.35)
    store.enqueue(job(priority=2))
    leases = store.lease("q", "d1", count=10, lease_for=30)
    assert leases[0].job_id == later.id  # critical, though enqueued earlier with a delay


def test_enqueue_at_absolute_time(store: Storage) -> None:
    j = job()
    store.enqueue(j, at=time.time() + 3600)
    assert store.lease("q", "d1", count=1, lease_for=30) == []
    assert store.stats()["q"].scheduled == 1


def test_expired_lease_is_redelivered_with_history(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    store.lease("q", "dead-daemon", count=1, lease_for=0.2)
    assert store.reclaim({}, Redelivery()) == []
    time.sleep(0.3)
    assert store.reclaim({}, Redelivery()) == [Reclaimed(j.id, "q", buried=False)]
    [lease] = store.lease("q", "d2", count=1, lease_for=30)
    assert lease.deliveries == 1
    rec = store.record(j.id)
    assert rec is not None and [a.outcome for a in rec.attempts] == ["lost"]
    assert rec.attempts[0].daemon == "dead-daemon"


def test_poison_pill_goes_dead_after_max_deliveries(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    found = []
    for _ in range(2):
        store.lease("q", "d1", count=1, lease_for=0.05)
        time.sleep(0.1)
        found += store.reclaim({"q": Redelivery(max_deliveries=2, dead_retain=60)}, Redelivery())
    assert found == [Reclaimed(j.id, "q", buried=False), Reclaimed(j.id, "q", buried=True)]
    assert store.lease("q", "d1", count=1, lease_for=30) == []
    rec = store.record(j.id)
    assert rec is not None and rec.state is State.DEAD
    assert "max_deliveries" in rec.reason
    assert [r.job.id for r in store.dead("q")] == [j.id]


def test_stats_say_since_when_the_longest_waiting_ready_job_is_due(store: Storage) -> None:
    """The age of a backlog: behind a crowd of urgent jobs, the low-priority job that has
    waited longest still counts; a job due in the future does not; a leased one does not."""
    assert "q" not in store.stats() or store.stats()["q"].oldest_ready is None
    before = time.time()
    old = replace(job(), priority=3)
    store.enqueue(old, at=before - 100)  # due 100 s ago: ready since then
    for _ in range(20):
        store.enqueue(replace(job(), priority=0))
    store.enqueue(job(), at=before + 3600)
    since = store.stats()["q"].oldest_ready
    assert since is not None and abs(since - (before - 100)) < 1
    leased = store.lease("q", "d1", count=30, lease_for=30)
    assert len(leased) == 21
    assert store.stats()["q"].oldest_ready is None  # nothing ready: none waits
    fresh = job()
    store.enqueue(fresh)
    since = store.stats()["q"].oldest_ready
    assert since is not None and before - 1 < since <= time.time() + 1


def test_a_filtered_walk_of_the_dead_letters_acts_on_each_match_once(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaying a filtered set: the jobs the filter passes over stay at the head of the
    dead list, and the walk still reaches every match behind them, in small reads too."""
    monkeypatch.setattr(deadletter, "BATCH", 2)
    kinds = {}
    for n in range(9):
        j = job()
        store.enqueue(j)
        [lease] = store.lease("q", "d1", count=1, lease_for=30)
        kind = "TimeoutError" if n % 3 == 2 else "ValueError"
        attempt = Attempt(1, time.time(), time.time(), "failed", "d1", kind, "no")
        store.bury(lease, record_of(j, State.DEAD, attempts=(attempt,)), keep_for=60)
        kinds[j.id] = kind
    only = deadletter.DeadFilter(error="timeout")
    looked = [r.job.id for r in deadletter.each_dead(store, "q", only, removes=False)]
    assert sorted(looked) == sorted(i for i, k in kinds.items() if k == "TimeoutError")
    walked = []
    for record in deadletter.each_dead(store, "q", only):
        walked.append(record.job.id)
        assert store.replay(record.job.id)
    assert sorted(walked) == sorted(looked)
    assert {r.job.id for r in store.dead("q", 100)} == {
        i for i, k in kinds.items() if k == "ValueError"
    }
    past = deadletter.DeadFilter(until=time.time() - 60)
    assert list(deadletter.each_dead(store, None, past)) == []


def test_history_counts_each_settlement_once_by_minute_and_outcome(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charts' history: every way an attempt ends is counted in the step that settles
    it, a stale delivery counts nothing, and expire forgets what is older than kept."""
    start = time.time()
    settled = {"succeeded": 3, "retried": 2, "dead": 1}
    for outcome, n in settled.items():
        for _ in range(n):
            j = job()
            store.enqueue(j)
            [lease] = store.lease("q", "d1", count=1, lease_for=30)
            if outcome == "succeeded":
                assert store.ack(lease, record_of(j), keep_for=60)
                store.ack(lease, record_of(j), keep_for=60)  # a repeat counts nothing more
            elif outcome == "retried":
                assert store.retry(lease, j.next_attempt(), 3600, record_of(j, State.RETRYING))
            else:
                assert store.bury(lease, record_of(j, State.DEAD), keep_for=60)
    lost = job("other")
    store.enqueue(lost)
    store.lease("other", "gone", count=1, lease_for=0.05)
    time.sleep(0.1)
    assert len(store.reclaim({}, Redelivery())) == 1
    [stale] = store.lease("other", "d2", count=1, lease_for=0.05)
    time.sleep(0.1)
    store.reclaim({}, Redelivery())  # lost again: its stale ack below counts nothing
    assert not store.ack(stale, record_of(lost), keep_for=60)

    def totals(queue: str | None) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for t in store.history(queue, start - 60):
            assert start - 120 < t.minute <= time.time() and t.minute % 60 == 0
            found[t.queue, t.outcome] = found.get((t.queue, t.outcome), 0) + t.attempts
        return found

    assert totals("q") == {("q", o): n for o, n in settled.items()}
    assert totals(None) == {**totals("q"), ("other", "lost"): 2}
    assert store.history("q", time.time() + 120) == []
    store.expire()
    assert totals(None) != {}  # this minute is kept
    for module in (sqlite_store, redis_upkeep):
        monkeypatch.setattr(module, "HISTORY_KEEP", -600)  # keep nothing older than the future
    store.expire()
    assert totals(None) == {}


def test_heartbeat_extends_leases(store: Storage) -> None:
    store.enqueue(job())
    store.lease("q", "d1", count=1, lease_for=0.3)
    time.sleep(0.2)
    assert store.extend("d1", 0.5) == 1
    time.sleep(0.2)
    assert store.reclaim({}, Redelivery()) == []


def test_a_heartbeat_renews_only_the_leases_the_daemon_knows_it_holds(store: Storage) -> None:
    """A lease whose reply was lost (or that a failover undid and redid) is the daemon's in
    storage but not in its memory: renewing it forever would keep its job from ever running.
    Given what it holds, the heartbeat renews those only, and a stale token renews nothing."""
    known, lost = job(), job()
    store.enqueue(known)
    store.enqueue(lost, delay=0.05)
    [held] = store.lease("q", "d1", count=1, lease_for=0.6)
    time.sleep(0.1)
    [unknown] = store.lease("q", "d1", count=1, lease_for=0.6)
    assert unknown.job_id == lost.id
    stale = replace(held, token=held.token.rpartition(":")[0] + ":999")
    assert store.extend("d1", 0.6, [stale]) == 0
    assert store.extend("d1", 30, [held]) == 1
    time.sleep(0.8)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [lost.id]
    assert store.extend("d1", 30, [held]) == 1  # still its lease


def test_retry_is_atomic_and_stale_lease_acks_nothing(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.retry(lease, j.next_attempt(), 0.0, record_of(j, State.RETRYING))
    [again] = store.lease("q", "d1", count=1, lease_for=30)
    assert decode(again.raw).attempt == 2
    assert not store.ack(lease, record_of(j), keep_for=60)  # the old delivery is gone
    assert store.record(j.id).state is State.RUNNING  # type: ignore[union-attr]
    assert store.ack(again, record_of(j), keep_for=60)


def settle(store: Storage, how: str, lease: Any, j: Job, attempt: Attempt) -> bool:
    """Settle `lease` as a worker would: `how` is ack, retry or bury."""
    base = store.record(j.id)
    history = base.attempts if base is not None else ()
    record = record_of(j, attempts=(*history, attempt))
    if how == "ack":
        return store.ack(lease, record, keep_for=60)
    if how == "retry":
        return store.retry(lease, j.next_attempt(), 0.0, replace(record, state=State.RETRYING))
    return store.bury(lease, replace(record, state=State.DEAD), keep_for=60)


@pytest.mark.parametrize("how", ["ack", "retry", "bury"])
def test_a_stale_delivery_settles_nothing_after_its_job_was_delivered_again(
    store: Storage, how: str
) -> None:
    """A daemon paused past its lease and resumed (SIGSTOP, a long GC, a frozen VM) must not
    settle the job that another daemon now runs: not ack it, retry it or bury it."""
    j = job()
    store.enqueue(j)
    [stale] = store.lease("q", "paused", count=1, lease_for=0.2)
    time.sleep(0.3)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [j.id]
    [current] = store.lease("q", "live", count=1, lease_for=30)
    assert current.token != stale.token
    ran = Attempt(1, time.time(), time.time(), "succeeded", daemon="paused")
    assert not settle(store, how, stale, j, ran)
    assert store.extend("paused", 30) == 0  # it holds nothing any more
    record = store.record(j.id)
    assert record is not None and record.state is State.RUNNING
    assert [a.outcome for a in record.attempts] == ["lost"]  # the stale run left no trace
    assert store.stats()["q"].running == 1
    assert store.lease("q", "third", count=1, lease_for=30) == []  # not re-inserted
    real = Attempt(1, time.time(), time.time(), "succeeded", daemon="live")
    assert settle(store, "ack", current, j, real)
    done = store.record(j.id)
    assert done is not None and done.state is State.SUCCEEDED
    assert [(a.outcome, a.daemon) for a in done.attempts] == [
        ("lost", "paused"),
        ("succeeded", "live"),
    ]


def test_a_token_the_storage_never_gave_out_settles_nothing(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    forged = replace(lease, token=lease.token + "9")
    assert not store.ack(forged, record_of(j), keep_for=60)
    assert not store.bury(replace(lease, token="nonsense"), record_of(j), keep_for=60)
    assert store.ack(lease, record_of(j), keep_for=60)


def test_a_lease_says_whether_the_job_has_history(store: Storage) -> None:
    """Workers read a job's earlier attempts only when there are any: not for a fresh job,
    always after a retry, a lost lease or a replay (which keeps the history)."""
    j = job()
    store.enqueue(j)
    [fresh] = store.lease("q", "d1", count=1, lease_for=0.2)
    assert not fresh.history
    time.sleep(0.3)
    store.reclaim({}, Redelivery())
    [again] = store.lease("q", "d1", count=1, lease_for=30)
    assert again.history
    failed = Attempt(1, time.time(), time.time(), "error", daemon="d1")
    assert store.bury(again, record_of(j, State.DEAD, attempts=(failed,)), keep_for=60)
    assert store.replay(j.id)
    [replayed] = store.lease("q", "d1", count=1, lease_for=30)
    assert replayed.history
    record = store.record(j.id)
    assert record is not None and [a.outcome for a in record.attempts] == ["error"]


def test_a_batch_of_leases_and_acks_is_settled_and_counted_job_by_job(store: Storage) -> None:
    """Leases and acks of many jobs in one call each: every lease says whether its own job
    has history, every ack is fenced by its own token (a stale one in the batch settles
    nothing), and the history counts each settlement once."""
    start = time.time()
    jobs = [job() for _ in range(4)]
    for j in jobs:
        store.enqueue(j)
    [lost] = store.lease("q", "gone", count=1, lease_for=0.05)
    time.sleep(0.1)
    assert len(store.reclaim({}, Redelivery())) == 1
    leases = store.lease("q", "d1", count=10, lease_for=30)
    assert sorted(lease.job_id for lease in leases) == sorted(j.id for j in jobs)
    assert {lease.job_id: lease.history for lease in leases} == {
        j.id: j.id == lost.job_id for j in jobs
    }
    by_id = {j.id: j for j in jobs}
    done = [Done(lease, record_of(by_id[lease.job_id]), 60.0) for lease in leases]
    stale = Done(lost, record_of(by_id[lost.job_id]), 60.0)
    assert store.ack_many([*done[:2], stale, *done[2:]]) == [True, True, False, True, True]
    for j in jobs:
        record = store.record(j.id)
        assert record is not None and record.state is State.SUCCEEDED
    counted: dict[str, int] = {}
    for t in store.history("q", start - 60):  # a minute's turn may split them in two rows
        counted[t.outcome] = counted.get(t.outcome, 0) + t.attempts
    assert counted == {"lost": 1, "succeeded": 4}


def test_retry_with_delay_is_scheduled(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    store.retry(lease, j.next_attempt(), 60.0, record_of(j, State.RETRYING))
    assert store.lease("q", "d1", count=1, lease_for=30) == []
    assert store.stats()["q"].scheduled == 1
    rec = store.record(j.id)
    assert rec is not None and rec.run_at is not None and rec.run_at > time.time() + 50


def test_bury_replay_purge(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.bury(lease, record_of(j.next_attempt(), State.DEAD, reason="boom"), 60)
    assert store.stats()["q"].dead == 1
    [dead] = store.dead()
    assert dead.reason == "boom" and dead.state is State.DEAD
    assert store.replay(j.id)
    assert not store.replay(j.id)  # no longer dead
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert decode(lease.raw).attempt == 1
    store.bury(lease, record_of(j, State.DEAD, reason="again"), 60)
    assert store.purge(queue="other") == 0
    assert store.purge(queue="q") == 1
    assert store.dead() == []


def test_release_returns_jobs_at_once(store: Storage) -> None:
    for _ in range(3):
        store.enqueue(job())
    store.lease("q", "d1", count=3, lease_for=30)
    assert store.release("d1") == 3
    assert len(store.lease("q", "d2", count=3, lease_for=30)) == 3


def test_idempotency_key_within_ttl(store: Storage) -> None:
    first = job(idempotency_key="a@x:welcome")
    assert store.enqueue(first, idempotency_ttl=0.3) == first.id
    second = job(idempotency_key="a@x:welcome")
    assert store.enqueue(second, idempotency_ttl=0.3) == first.id
    assert store.enqueue(job(idempotency_key="b@x:welcome"), idempotency_ttl=0.3) != first.id
    time.sleep(0.4)
    third = job(idempotency_key="a@x:welcome")
    assert store.enqueue(third, idempotency_ttl=0.3) == third.id
    assert len(store.lease("q", "d1", count=10, lease_for=30)) == 3


def test_rate_limit_sliding_window(store: Storage) -> None:
    assert [store.take("q", 3, 0.5) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take("q", 3, 0.5)
    assert 0 < wait <= 0.5
    assert store.take("other", 3, 0.5) == 0.0
    time.sleep(wait + 0.01)
    assert store.take("q", 3, 0.5) == 0.0


def test_unreadable_message_can_be_buried(store: Storage, url: str) -> None:
    inject_garbage(url, "q", b"\x80\x81 not json")
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    with pytest.raises(Unreadable):
        decode(lease.raw)
    placeholder = Job(id=lease.job_id, queue="q", payload=lease.raw.decode(errors="replace"))
    assert store.bury(lease, record_of(placeholder, State.DEAD, reason="unreadable"), 60)
    assert [r.reason for r in store.dead("q")] == ["unreadable"]
    assert store.lease("q", "d1", count=1, lease_for=30) == []


def test_woken_names_the_queue_another_connection_enqueued_into(url: str) -> None:
    waiter, producer = open_storage(url), open_storage(url)
    since = waiter.moment()
    found: list[set[str]] = []
    thread = threading.Thread(
        target=lambda: found.append(waiter.woken(since, ["q", "other"], 5.0)[1])
    )
    thread.start()
    time.sleep(0.1)
    start = time.monotonic()
    producer.enqueue(job())
    thread.join()
    assert "q" in found[0] and time.monotonic() - start < 2.0, "woken() missed the new job"
    waiter.close()
    producer.close()


def test_close_leaves_no_wake_thread_at_work(url: str) -> None:
    """close() returns once its own threads are done with the client: the storage closes
    the client next, and a thread still sending on it then fails inside the client."""
    failed: list[BaseException | None] = []
    hook, threading.excepthook = threading.excepthook, lambda args: failed.append(args.exc_value)
    try:
        for _ in range(10):
            storage = open_storage(url)
            storage.woken(storage.moment(), ["q"], 0.05)  # listening
            storage.close()
            left = [t.name for t in threading.enumerate() if t.name.startswith("jobrunner-")]
            assert "jobrunner-redis-wake-close" not in left, left
    finally:
        threading.excepthook = hook
    assert failed == []


def test_a_signal_between_the_moment_and_the_wait_is_not_missed(url: str) -> None:
    waiter, producer = open_storage(url), open_storage(url)
    since, _ = waiter.woken(waiter.moment(), ["q"], 0.2)  # listening from here on
    producer.enqueue(job())  # after a look that found nothing, before the wait
    time.sleep(0.3)
    _, found = waiter.woken(since, ["q"], 5.0)
    assert found == {"q"}
    waiter.close()
    producer.close()


def test_empty_leases_and_extends_signal_nothing(store: Storage) -> None:
    """Idle workers must not wake each other: the empty leases and extends they make signal
    no queue (on SQLite each woke every waiter once, and kept a core busy)."""
    since, _ = store.woken(store.moment(), ["q"], 0.2)  # what starting to listen signalled
    until = time.monotonic() + 0.3
    while time.monotonic() < until:
        assert store.lease("q", "idle", count=4, lease_for=30) == []
        assert store.extend("idle", 30) == 0
    since, found = store.woken(since, ["q"], 0.2)
    assert found == set(), "a write that made nothing due signalled a queue"
    returned = threading.Event()
    thread = threading.Thread(target=lambda: (store.woken(since, ["q"], 5.0), returned.set()))
    thread.start()
    time.sleep(0.1)
    store.wake()
    assert returned.wait(2.0), "wake() did not end the wait"
    thread.join()


def test_holding_names_the_queues_with_a_job_to_lease(store: Storage) -> None:
    """The daemon's look for jobs that came without a signal (worker/feed.py): a ready job
    and a due scheduled one count; one scheduled later, a leased one and no job do not."""
    assert store.holding(["a", "b", "c", "d", "e"]) == set()
    store.enqueue(job("a"))
    store.enqueue(job("b"), delay=3600)
    store.enqueue(job("c"), delay=0.3)
    store.enqueue(job("d"))
    assert len(store.lease("d", "d1", count=1, lease_for=30)) == 1
    assert store.holding(["a", "b", "c", "d", "e"]) == {"a"}
    time.sleep(0.4)
    assert store.holding(["a", "b", "c", "d", "e"]) == {"a", "c"}
    assert store.holding(["b", "d"]) == set()
    store.pause(Pause("a", time.time(), "ops", ""))
    assert store.holding(["a"]) == {"a"}, "paused or not: leasing decides"
    assert store.holding([]) == set()


def test_garbage_in_a_leased_jobs_record_neither_stops_reclaim_nor_hides_the_job(
    store: Storage, url: str
) -> None:
    j = job()
    store.enqueue(j)
    store.lease("q", "gone", count=1, lease_for=0.2)
    corrupt_record(url, "q", j.id, b"\xff not a record", b"many")
    time.sleep(0.3)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [j.id]
    [again] = store.lease("q", "d2", count=1, lease_for=30)
    assert decode(again.raw).id == j.id  # the message itself was fine: it runs again
    assert store.record(j.id) is not None


def test_garbage_in_a_waiting_jobs_record_does_not_block_its_queue(
    store: Storage, url: str
) -> None:
    j = job()
    store.enqueue(j)
    corrupt_record(url, "q", j.id, b"\x00 not json", b"0")
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert decode(lease.raw).id == j.id and lease.history  # the worker reads what is there
    assert store.ack(lease, record_of(j), keep_for=60)


def test_an_unreadable_record_is_shown_dead_with_its_bytes_and_the_reason(
    store: Storage, url: str
) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.bury(lease, record_of(j, State.DEAD, reason="no"), keep_for=60)
    corrupt_record(url, "q", j.id, b'{"job": 5}', b"1")
    record = store.record(j.id)
    assert record is not None and record.state is State.DEAD
    assert record.reason.startswith("unreadable record") and '{"job": 5}' in record.job.payload
    assert [r.job.id for r in store.dead("q")] == [j.id]
    assert not store.replay(j.id)  # nothing to run


@pytest.mark.parametrize(
    "raw", [b"\x80 not json", b"[1, 2]", b'{"generation": "x", "queues": 5, "files": 7}']
)
def test_garbage_in_the_shared_records_reads_as_never_written(
    store: Storage, url: str, raw: bytes
) -> None:
    for key in ("config", "problems", "last-good-files", "cron:tick"):
        overwrite_value(url, key, raw)
    published = records.read_published(store)
    assert published is None or (published.generation, published.queues) == (0, {})
    assert records.read_cron(store, "tick") == records.CronState()
    problems = records.read_problems(store)
    assert problems is None or problems.problems == ()
    assert set(records.read_last_good(store).files) <= {"generation"}  # the one str value


def test_publish_and_daemons(store: Storage) -> None:
    assert store.published() is None
    store.publish({"generation": 3, "queues": {"q": {}}})
    assert store.published() == {"generation": 3, "queues": {"q": {}}}
    store.beat("d1", {"host": "h", "pid": 1}, ttl=0.2)
    store.beat("d2", {"host": "h", "pid": 2}, ttl=30)
    assert [d["id"] for d in store.daemons()] == ["d1", "d2"]
    store.leave("d2")
    time.sleep(0.3)
    assert store.daemons() == []


def test_claim_is_granted_once_per_key(url: str) -> None:
    stores = [open_storage(url) for _ in range(3)]
    granted: list[bool] = []
    threads = [
        threading.Thread(target=lambda s=s: granted.append(s.claim("tick:a:100", 0.3)))
        for s in stores
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 1
    assert stores[0].claim("tick:a:101", 0.3)  # another key
    time.sleep(0.4)
    assert stores[1].claim("tick:a:100", 0.3)  # the claim expired
    for s in stores:
        s.close()


def test_values_round_trip(store: Storage) -> None:
    assert store.get_value("cron:a") is None
    store.set_value("cron:a", {"last": 1.5, "job": "x"})
    assert store.get_value("cron:a") == {"last": 1.5, "job": "x"}
    store.set_value("cron:a", {"last": 2.5})
    assert store.get_value("cron:a") == {"last": 2.5}


def test_expire_forgets_finished_records(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    store.ack(lease, record_of(j), keep_for=0.1)
    time.sleep(0.2)
    store.expire()
    assert store.record(j.id) is None


def test_a_finished_job_enqueued_again_outlives_its_last_records_retention(
    store: Storage,
) -> None:
    """expire forgets records past their keep time, never the job that waits again."""
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.ack(lease, record_of(j), keep_for=0.05)
    assert store.enqueue(j) == j.id  # the same id again: a finished one is stored anew
    time.sleep(0.1)
    store.expire()
    assert store.record(j.id).state is State.QUEUED  # type: ignore[union-attr]
    [again] = store.lease("q", "d1", count=1, lease_for=30)
    assert again.job_id == j.id


# -- pausing a queue -------------------------------------------------------------


def test_a_paused_queue_leases_nothing_and_takes_jobs_until_resumed(store: Storage) -> None:
    first = job()
    store.enqueue(first)
    store.enqueue(job("other"))
    store.pause(Pause("q", 1234.5, "ops@web1", "relay down"))
    assert store.paused() == {"q": Pause("q", 1234.5, "ops@web1", "relay down")}
    later = job()
    assert store.enqueue(later) == later.id  # enqueues still work: the job waits
    assert store.record(later.id).state is State.QUEUED  # type: ignore[union-attr]
    assert store.lease("q", "d1", count=10, lease_for=30) == []
    assert store.stats()["q"].ready == 2
    assert len(store.lease("other", "d1", count=10, lease_for=30)) == 1  # others unaffected
    assert store.resume("q")
    assert not store.resume("q")  # no longer paused
    assert store.paused() == {}
    leases = store.lease("q", "d1", count=10, lease_for=30)
    assert [x.job_id for x in leases] == [first.id, later.id]


def test_a_pause_holds_for_every_connection_and_a_second_one_replaces_the_first(
    url: str,
) -> None:
    cli, daemon = open_storage(url), open_storage(url)
    cli.enqueue(job())
    cli.pause(Pause("q", 1.0, "a@h", "first"))
    cli.pause(Pause("q", 2.0, "b@h", "second"))
    assert daemon.paused() == {"q": Pause("q", 2.0, "b@h", "second")}
    assert daemon.lease("q", "d1", count=1, lease_for=30) == []
    assert daemon.resume("q")
    assert len(cli.lease("q", "d1", count=1, lease_for=30)) == 1
    cli.close()
    daemon.close()


def test_a_paused_queue_is_not_due_and_its_resume_signals_it(url: str) -> None:
    """Workers must sleep through a paused queue's ready jobs (not spin on empty leases),
    and start at once when it is resumed."""
    waiter, operator = open_storage(url), open_storage(url)
    operator.enqueue(job())
    operator.pause(Pause("q"))
    since = waiter.moment()
    assert waiter.lease_many({"q": 1}, "d1", lease_for=30)["q"].due_in is None  # paused
    since, _ = waiter.woken(since, ["q"], 0.3)  # what the pause itself may have signalled
    assert waiter.woken(since, ["q"], 0.5)[1] == set(), "a paused queue was signalled"
    found: list[set[str]] = []
    thread = threading.Thread(target=lambda: found.append(waiter.woken(since, ["q"], 5.0)[1]))
    thread.start()
    operator.resume("q")
    thread.join()
    assert found == [{"q"}], "resume did not signal the waiting worker"
    assert len(waiter.lease("q", "d1", count=1, lease_for=30)) == 1
    waiter.close()
    operator.close()


def test_an_expired_lease_of_a_paused_queue_goes_back_and_waits(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    store.lease("q", "gone", count=1, lease_for=0.1)
    store.pause(Pause("q"))
    time.sleep(0.2)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [j.id]
    assert store.lease("q", "d2", count=1, lease_for=30) == []
    store.resume("q")
    assert [x.job_id for x in store.lease("q", "d2", count=1, lease_for=30)] == [j.id]


@pytest.mark.parametrize(
    ("raw", "kind", "why"),
    [
        (b"\x80 not json", "string", "not JSON"),
        (b"[1, 2]", "string", "JSON list, not an object"),
        (b'{"since": "yesterday", "by": 5, "reason": "r"}', "string", "since, by of the wrong"),
        (b"x" * 70_000, "string", "more than a pause ever takes"),
        (b"a list", "list", "holds a list"),
    ],
)
def test_garbage_in_a_pause_still_pauses_and_reads_as_unreadable(
    store: Storage, url: str, raw: bytes, kind: str, why: str
) -> None:
    if kind != "string" and url.startswith("sqlite"):
        pytest.skip("SQLite has no key types")
    store.enqueue(job())
    write_pause(url, "q", raw, kind)
    [pause] = store.paused().values()
    assert pause.queue == "q" and why in pause.unreadable
    assert pause.reason in ("", "r") and pause.since is None
    assert store.lease("q", "d1", count=1, lease_for=30) == []  # still paused
    assert store.resume("q")
    assert len(store.lease("q", "d1", count=1, lease_for=30)) == 1


def test_cancel_takes_a_waiting_job_out_of_its_queue(store: Storage) -> None:
    queued, later = job(), job()
    store.enqueue(queued)
    store.enqueue(later, delay=60)
    assert store.cancel(queued.id, keep_for=60) is Cancel.CANCELLED
    assert store.cancel(later.id, keep_for=60) is Cancel.CANCELLED
    for j in (queued, later):
        rec = store.record(j.id)
        assert rec is not None and rec.state is State.CANCELLED and rec.reason
        assert rec.job == j
    assert store.lease("q", "d1", count=5, lease_for=30) == []
    assert store.dead() == []  # cancelled is not dead
    stats = store.stats().get("q")
    assert stats is None or (stats.ready, stats.scheduled, stats.dead) == (0, 0, 0)
    assert store.cancel(queued.id, keep_for=60) is Cancel.FINISHED  # twice: nothing more
    assert store.cancel("no-such-job", keep_for=60) is Cancel.UNKNOWN


def test_cancel_keeps_the_history_of_a_job_waiting_for_its_retry(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    tried = Attempt(1, time.time(), time.time(), "failed", "d1", "E", "boom")
    store.retry(lease, j.next_attempt(), 60, record_of(j, State.RETRYING, attempts=(tried,)))
    assert store.cancel(j.id, keep_for=60) is Cancel.CANCELLED
    rec = store.record(j.id)
    assert rec is not None and rec.state is State.CANCELLED and rec.attempts == (tried,)
    assert store.lease("q", "d1", count=1, lease_for=30) == []


def test_cancel_of_a_leased_job_is_a_request_its_holder_reads(store: Storage) -> None:
    a, b = job(), job()
    store.enqueue(a)
    store.enqueue(b)
    leases = store.lease("q", "d1", count=2, lease_for=30)
    assert store.cancel_requested(leases) == set()
    assert store.cancel_requested([]) == set()
    assert store.cancel(a.id, keep_for=60) is Cancel.REQUESTED
    assert store.cancel_requested(leases) == {a.id}
    assert store.record(a.id).state is State.RUNNING  # type: ignore[union-attr]
    [held] = [lease for lease in leases if lease.job_id == a.id]
    assert store.ack(held, record_of(a, State.CANCELLED), keep_for=60)
    assert store.record(a.id).state is State.CANCELLED  # type: ignore[union-attr]
    assert store.cancel(a.id, keep_for=60) is Cancel.FINISHED
    assert store.cancel_requested(leases) == set()


def test_a_cancel_request_ends_with_the_attempt_it_was_for(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.cancel(j.id, keep_for=60) is Cancel.REQUESTED
    store.retry(lease, j.next_attempt(), 0, record_of(j, State.RETRYING))
    [again] = store.lease("q", "d1", count=1, lease_for=30)
    assert store.cancel_requested([again]) == set()


def test_a_cancelled_job_can_be_replayed_with_its_history(store: Storage) -> None:
    j = job()
    store.enqueue(j)
    [lease] = store.lease("q", "d1", count=1, lease_for=30)
    store.cancel(j.id, keep_for=60)
    tried = Attempt(1, time.time(), time.time(), "cancelled", "d1", "Cancelled", "by an operator")
    store.ack(lease, record_of(j, State.CANCELLED, attempts=(tried,)), keep_for=60)
    assert store.replay(j.id)
    rec = store.record(j.id)
    assert rec is not None and rec.state is State.QUEUED and rec.attempts == (tried,)
    [again] = store.lease("q", "d1", count=1, lease_for=30)
    assert decode(again.raw).attempt == 1
    assert store.cancel_requested([again]) == set()  # the old request is gone
    assert not store.replay(j.id)  # running: not dead nor cancelled


# -- listing and searching jobs (storage/search.py) ---------------------------------


def listed(store: Storage, **filters: Any) -> list[str]:
    """The ids of every page of a search, in order, following the cursors."""
    ids: list[str] = []
    cursor = None
    while True:
        page = store.jobs(search.Query(cursor=cursor, **filters))
        ids += [r.job.id for r in page.records]
        if page.next is None:
            return ids
        cursor = page.next


def made(store: Storage, queue: str = "q", created: float | None = None, **kw: Any) -> Job:
    j = replace(job(queue, **kw), created=time.time() if created is None else created)
    store.enqueue(j)
    return j


def test_jobs_are_listed_newest_first_by_queue(store: Storage) -> None:
    now = time.time()
    a1, b1, a2 = made(store, "a", now - 3), made(store, "b", now - 2), made(store, "a", now - 1)
    page = store.jobs(search.Query(queue="a"))
    assert [r.job.id for r in page.records] == [a2.id, a1.id]
    assert page.next is None and page.examined == 2
    assert page.records[0].state is State.QUEUED and page.records[0].job.queue == "a"
    assert listed(store) == [a2.id, b1.id, a1.id]
    assert listed(store, queue="nowhere") == []


def test_jobs_are_found_by_state(store: Storage) -> None:
    done, dead, waiting = made(store), made(store), made(store)
    leases = {x.job_id: x for x in store.lease("q", "d1", count=2, lease_for=30)}
    assert store.ack(leases[done.id], record_of(done), keep_for=60)
    assert store.bury(leases[dead.id], record_of(dead, State.DEAD), keep_for=60)
    assert listed(store, states=frozenset({State.DEAD})) == [dead.id]
    both = frozenset({State.SUCCEEDED, State.QUEUED})
    assert listed(store, states=both) == [waiting.id, done.id]
    assert listed(store, states=frozenset({State.RUNNING})) == []


def test_jobs_are_found_by_their_creation_time(store: Storage) -> None:
    now = time.time()
    old, mid, new = (made(store, created=now - ago) for ago in (300, 200, 100))
    assert listed(store, since=now - 250) == [new.id, mid.id]
    assert listed(store, until=now - 200) == [old.id]  # until is exclusive
    assert listed(store, since=now - 200, until=now - 100) == [mid.id]  # since is inclusive
    assert listed(store, since=now) == []


def test_jobs_are_found_by_a_payload_field(store: Storage) -> None:
    text = made(store, payload={"customer": {"id": "42"}})
    number = made(store, payload={"customer": {"id": 42}})
    seven = made(store, payload={"customer": {"id": "7"}, "n": True})
    items = made(store, payload={"items": [{"sku": "x"}, {"sku": "y"}]})

    def where(path: str, value: Any) -> list[str]:
        return listed(store, match=search.Match.parse(path, value))

    assert where("customer.id", "42") == [text.id]
    assert where("payload.customer.id", 42) == [number.id]  # a number is not its text
    assert where("customer.id", "99") == []
    assert where("n", 1) == []  # nor is true a number
    assert where("items.1.sku", "y") == [items.id]
    assert where("customer", {"id": "7"}) == [seven.id]  # objects compare whole
    assert where("customer", {"id": 42.0}) == [number.id]  # numbers by value
    with pytest.raises(ValueError, match="dotted path"):
        search.Match.parse("customer..id", 1)


def test_paging_with_the_cursor_yields_each_job_once(store: Storage) -> None:
    now = time.time()
    same = [made(store, created=now - 50) for _ in range(7)]  # created in one instant
    made(store, "other")
    jobs = [made(store, created=now - 100 + n) for n in range(16)] + same
    newest_first = sorted(jobs, key=lambda j: (j.created, j.id), reverse=True)
    pages, cursors = [], [None]
    while not pages or cursors[-1] is not None:
        page = store.jobs(search.Query(queue="q", limit=5, cursor=cursors[-1]))
        pages.append([r.job.id for r in page.records])
        cursors.append(page.next)
    assert [i for p in pages for i in p] == [j.id for j in newest_first]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    made(store)  # newer than the first page: the pages that follow do not move
    rest = store.jobs(search.Query(queue="q", limit=500, cursor=cursors[1]))
    assert [r.job.id for r in rest.records] == [i for p in pages[1:] for i in p]


def test_a_search_examines_a_bounded_number_of_entries_a_call(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rare match: each call stops after its budget, short (even empty) with a cursor."""
    monkeypatch.setattr(search, "BUDGET", 10)
    rare = made(store, created=time.time() - 100, payload={"rare": True})
    for _ in range(25):
        made(store, payload={"rare": False})
    query = search.Query(match=search.Match.parse("rare", True), limit=5)
    pages = [store.jobs(query)]
    while pages[-1].next is not None:
        pages.append(store.jobs(replace(query, cursor=pages[-1].next)))
    assert all(p.examined <= 10 for p in pages)
    assert pages[0].records == () and pages[0].next is not None and pages[0].examined == 10
    assert [r.job.id for p in pages for r in p.records] == [rare.id]
    assert sum(p.examined for p in pages) == 26


def test_a_garbage_cursor_is_refused(store: Storage) -> None:
    made(store), made(store)
    cursor = store.jobs(search.Query(limit=1)).next
    assert cursor is not None
    for garbage in ("", "x", "j1.", "j1.!!!", "j1.WzFd", cursor + "A" * 3000, cursor[:-3]):
        with pytest.raises(ValueError, match="cursor"):
            store.jobs(search.Query(limit=1, cursor=garbage))
    with pytest.raises(ValueError, match="other filters"):
        store.jobs(search.Query(queue="q", limit=1, cursor=cursor))
    assert len(store.jobs(search.Query(limit=5, cursor=cursor)).records) == 1
    with pytest.raises(ValueError, match="limit"):
        search.Query(limit=501)


def test_jobs_gone_from_storage_are_not_listed(store: Storage) -> None:
    kept, brief, dead = made(store), made(store), made(store)
    leases = {x.job_id: x for x in store.lease("q", "d1", count=3, lease_for=30)}
    assert store.ack(leases[brief.id], record_of(brief), keep_for=0.05)
    assert store.bury(leases[dead.id], record_of(dead, State.DEAD), keep_for=60)
    assert store.purge(job_id=dead.id) == 1
    time.sleep(0.1)
    store.expire()
    page = store.jobs(search.Query())
    assert [r.job.id for r in page.records] == [kept.id]


def test_an_unreadable_record_is_listed_as_such(store: Storage, url: str) -> None:
    j, fine = made(store), made(store)
    corrupt_record(url, "q", j.id, b'{"job": 5}', b"1")
    records = {r.job.id: r for r in store.jobs(search.Query()).records}
    assert records[fine.id].state is State.QUEUED
    assert records[j.id].state is State.DEAD
    assert records[j.id].reason.startswith("unreadable record")
    assert listed(store, match=search.Match.parse("a", 1)) == []


# -- leasing and acknowledging in batches (lease_many, ack_many) -------------------


def test_lease_many_leases_each_queue_as_lease_does_and_says_when_to_ask_again(
    store: Storage,
) -> None:
    low, crit, normal = job("a", priority=3), job("a", priority=0), job("a", priority=2)
    for j in (low, crit, normal):
        store.enqueue(j)
    ready, later = job("b"), job("b")
    store.enqueue(ready)
    store.enqueue(later, delay=3600)
    store.enqueue(job("c"))
    store.pause(Pause("c"))
    soon = job("e", priority=0)
    store.enqueue(soon, delay=0.6)
    store.enqueue(job("e", priority=3))
    wants = {"a": 2, "b": 5, "c": 5, "d": 1, "e": 5}
    found = store.lease_many(wants, "d1", lease_for=30)
    assert set(found) == set(wants)
    assert [x.job_id for x in found["a"].leases] == [crit.id, normal.id]
    assert found["a"].due_in == 0.0  # it gave all it was asked for: more may be ready
    assert [x.job_id for x in found["b"].leases] == [ready.id]
    assert 3500 < (found["b"].due_in or 0) <= 3600
    assert found["c"] == Found([], None)  # paused: its resume wakes the waiters
    assert found["d"] == Found([], None)  # nothing waits
    assert len(found["e"].leases) == 1 and 0 < (found["e"].due_in or 0) <= 0.6
    assert all(x.deliveries == 0 and x.queue == q for q, f in found.items() for x in f.leases)
    assert store.record(crit.id).state is State.RUNNING  # type: ignore[union-attr]
    time.sleep(0.65)
    again = store.lease_many({"a": 2, "e": 1}, "d2", lease_for=30)
    assert [x.job_id for x in again["a"].leases] == [low.id]
    assert again["a"].due_in is None
    assert [x.job_id for x in again["e"].leases] == [soon.id]  # promoted, its priority kept
    tokens = [x.token for f in (*found.values(), *again.values()) for x in f.leases]
    assert len(set(tokens)) == len(tokens) == 6


def test_ack_many_fences_each_ack_by_its_own_token(store: Storage) -> None:
    """A stale delivery among good ones settles nothing and answers False; the others are
    settled; the same batch acknowledged again answers as `ack` does and acts once."""
    stale_job, first, second, other = job(), job(), job(), job("b")
    for j in (stale_job, first, second, other):
        store.enqueue(j)
    [stale] = store.lease("q", "paused", count=1, lease_for=0.1)
    time.sleep(0.2)
    assert [r.job_id for r in store.reclaim({}, Redelivery())] == [stale_job.id]
    found = store.lease_many({"q": 3, "b": 1}, "live", lease_for=30)
    leases = {x.job_id: x for f in found.values() for x in f.leases}
    assert set(leases) == {first.id, stale_job.id, second.id, other.id}
    start = time.time()
    done = [
        Done(leases[first.id], record_of(first, result=1), 60),
        Done(stale, record_of(stale_job, result="stale"), 60),
        Done(leases[other.id], record_of(other, result=3), 60),
        Done(leases[second.id], record_of(second, State.CANCELLED), 60),
    ]
    assert store.ack_many(done) == [True, False, True, True]
    assert store.record(first.id).result == 1  # type: ignore[union-attr]
    assert store.record(other.id).result == 3  # type: ignore[union-attr]
    assert store.record(second.id).state is State.CANCELLED  # type: ignore[union-attr]
    current = store.record(stale_job.id)
    assert current is not None and current.state is State.RUNNING and current.result is None
    running = {q: stats.running for q, stats in store.stats().items()}
    assert running["q"] == 1 and running.get("b", 0) == 0
    assert store.extend("live", 30) == 1  # it holds only the job the stale ack left alone

    def tallies() -> list[tuple[str, str, int]]:
        return sorted((t.queue, t.outcome, t.attempts) for t in store.history(None, start - 60))

    counted = [
        ("b", "succeeded", 1),
        ("q", "cancelled", 1),
        ("q", "lost", 1),
        ("q", "succeeded", 1),
    ]
    assert tallies() == counted
    repeat = store.ack(leases[first.id], record_of(first, result=1), 60)
    assert store.ack_many([done[0], done[2]]) == [repeat, repeat]  # as a repeated `ack`
    assert store.record(first.id).result == 1  # type: ignore[union-attr]
    assert tallies() == counted  # acted once
    assert store.ack_many([Done(leases[stale_job.id], record_of(stale_job), 60)]) == [True]
    assert store.ack_many([]) == []


def test_lease_many_and_ack_many_serve_every_queue_a_stray_writer_left_alone(
    store: Storage, url: str
) -> None:
    """Garbage in one queue's jobs, a pause that does not read: each queue as `lease` would
    treat it, the others served in the same call."""
    good = job("good")
    store.enqueue(good)
    inject_garbage(url, "junk", b"\x80 not a job")
    store.enqueue(job("odd"))
    write_pause(url, "odd", b"\x80 not json")
    found = store.lease_many({"good": 1, "junk": 1, "odd": 1}, "d1", lease_for=30)
    assert [x.job_id for x in found["good"].leases] == [good.id]
    [garbage] = found["junk"].leases
    assert garbage.raw == b"\x80 not a job"  # delivered: the worker dead-letters it
    assert found["odd"] == Found([], None)  # still paused
    done = [
        Done(garbage, record_of(job("junk")), 60),
        Done(found["good"].leases[0], record_of(good), 60),
    ]
    assert store.ack_many(done) == [True, True]


@pytest.mark.parametrize("key", ["ready", "leased", "seq"])
def test_a_broken_queue_among_good_ones_leases_nothing_and_the_others_are_served(
    store: Storage, url: str, key: str
) -> None:
    """A stray writer's key of the wrong type where a queue keeps its jobs, its leases or
    its counter: that queue waits, writing nothing (its acks too, when it is the leases),
    and the others go on."""
    if url.startswith("sqlite"):
        pytest.skip("SQLite has no key types")
    good, bad, waiting = job("good"), job("bad"), job("bad")
    store.enqueue(good)
    store.enqueue(bad)
    [held] = store.lease("bad", "d1", count=1, lease_for=30)
    store.enqueue(waiting)
    replace_key(url, f"jr:{{bad}}:{key}", "string", b"a stray writer's")
    found = store.lease_many({"bad": 5, "good": 5}, "d1", lease_for=30)
    assert found["bad"] == Found([], None)
    assert store.record(waiting.id).state is State.QUEUED  # type: ignore[union-attr]
    [lease] = found["good"].leases
    assert lease.job_id == good.id and found["good"].due_in is None
    done = [Done(held, record_of(bad), 60), Done(lease, record_of(good), 60)]
    settled = key != "leased"  # an ack needs the leases, not the ready jobs
    assert store.ack_many(done) == [settled, True]
    assert store.record(good.id).state is State.SUCCEEDED  # type: ignore[union-attr]
    state = State.SUCCEEDED if settled else State.RUNNING
    assert store.record(bad.id).state is state  # type: ignore[union-attr]


def test_a_job_hash_a_stray_writer_replaced_is_set_aside_and_the_batch_goes_on(
    store: Storage, url: str
) -> None:
    """The job is dead-lettered saying why; the others of the same call are leased or
    acknowledged, and nothing of the failed try is half done."""
    if url.startswith("sqlite"):
        pytest.skip("SQLite has no key types")
    spoilt, fine, waiting, good = job(), job(), job(), job()
    for j in (spoilt, fine, waiting, good):
        store.enqueue(j)
    found = store.lease_many({"q": 2}, "d1", lease_for=30)
    leases = {x.job_id: x for x in found["q"].leases}
    replace_key(url, f"jr:{{q}}:job:{spoilt.id}", "list", b"a stray writer's")
    done = [
        Done(leases[spoilt.id], record_of(spoilt), 60),
        Done(leases[fine.id], record_of(fine), 60),
    ]
    assert store.ack_many(done) == [False, True]
    replace_key(url, f"jr:{{q}}:job:{waiting.id}", "string", b"a stray writer's")
    assert [x.job_id for x in store.lease_many({"q": 2}, "d1", lease_for=30)["q"].leases] == [
        good.id
    ]
    for j, state in ((spoilt, State.DEAD), (fine, State.SUCCEEDED), (waiting, State.DEAD)):
        assert store.record(j.id).state is state  # type: ignore[union-attr]
    assert store.stats()["q"].running == 1  # only `good`: `spoilt` left its lease
