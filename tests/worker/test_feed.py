"""The feeder (worker/feed.py): a lane is leased for again as soon as it has room, on its
own rounds, without waiting for a signal or the resync."""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Any

import pytest

from jobrunner.job import Job, new_id
from jobrunner.storage import Storage, StorageError, open_storage
from jobrunner.worker import feed
from jobrunner.worker.feed import Feeder

JOBS = 300


def test_a_lane_whose_jobs_turn_out_quick_is_leased_for_at_once(url: str, store: Storage) -> None:
    """Stored before the feeder starts, the jobs send it no signal: only its own rounds lease
    them. Once the lane's jobs prove quick it may hold more; its room then grows by more than
    one a finished job, and the fetcher must still be woken (it once waited for the resync)."""
    for _ in range(JOBS):
        store.enqueue(Job(new_id(), "work", {}))
    own = open_storage(url)  # a storage of its own, opened after: no wake signal of theirs
    feeder = Feeder(own, "test-owner", 30.0, give_back=lambda name, leases: None)
    retired = threading.Event()
    start = time.monotonic()
    feeder.serve("work", 4)
    try:
        for _ in range(JOBS):
            taken = feeder.take(retired)
            assert taken is not None
            assert time.monotonic() - start < feed.RESYNC, "a round waited for the resync"
            feeder.finished(taken[0], 0.001)
    finally:
        feeder.close()
        own.close()


def test_a_delay_the_listener_learns_of_wakes_the_fetcher_for_its_time(
    url: str, store: Storage
) -> None:
    """The fetcher sleeps until the earliest time a lane is due. When the listener's lease
    learns of a delayed job (its enqueue signalled the queue), the fetcher must reckon again,
    or the job waits for the resync. It is not woken after every lease (a wake for nothing,
    once a job, in a steady trickle), so this once went unnoticed."""
    own = open_storage(url)
    feeder = Feeder(own, "test-owner", 30.0, give_back=lambda name, leases: None)
    retired = threading.Event()
    feeder.serve("work", 4)
    try:
        time.sleep(0.5)  # its first round found nothing: the fetcher sleeps for the resync
        store.enqueue(Job(new_id(), "work", {}), delay=0.5)
        start = time.monotonic()
        taken = feeder.take(retired)
        assert taken is not None
        assert time.monotonic() - start < 2.0, "the delayed job waited for the resync"
    finally:
        feeder.close()
        own.close()


def test_a_lane_signalled_while_full_is_leased_for_once_a_place_frees(
    url: str, store: Storage
) -> None:
    """A signal for a lane with no room leaves it marked; the job that frees a place must
    wake the fetcher for it (the listener no longer wakes the fetcher on every signal)."""
    own = open_storage(url)
    feeder = Feeder(own, "test-owner", 30.0, give_back=lambda name, leases: None)
    retired = threading.Event()
    feeder.serve("work", 1)  # one at a time: none held to start next
    try:
        store.enqueue(Job(new_id(), "work", {}))
        first = feeder.take(retired)
        assert first is not None
        store.enqueue(Job(new_id(), "work", {}))  # signalled while the lane is full
        time.sleep(0.5)  # the listener saw the signal and had no room for it
        start = time.monotonic()
        feeder.finished(first[0], 0.1)
        second = feeder.take(retired)
        assert second is not None and second[1].job_id != first[1].job_id
        assert time.monotonic() - start < 2.0, "the freed place waited for the resync"
    finally:
        feeder.close()
        own.close()


class Counted:
    """A storage that notes when each lease round ended and how many jobs it found."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.rounds: list[tuple[float, int]] = []  # (monotonic end, jobs found)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def lease_many(self, wants: dict[str, int], owner: str, *, lease_for: float) -> Any:
        found = self.storage.lease_many(wants, owner, lease_for=lease_for)
        self.rounds.append((time.monotonic(), sum(len(f.leases) for f in found.values())))
        return found


def test_a_lane_that_emptied_its_queue_rests_then_leases_what_came_meanwhile(
    url: str, store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a trickle, a lease that empties the queue is not followed by a lease (and a
    signal) per job: the lane rests REST, then one lease takes every job that came. The
    rest must end on its own: a signalled lane is not left for the resync."""
    monkeypatch.setattr(feed, "REST", 0.3)
    counted = Counted(open_storage(url))
    feeder = Feeder(counted, "test-owner", 30.0, give_back=lambda name, leases: None)  # type: ignore[arg-type]
    retired = threading.Event()
    feeder.serve("work", 4)
    try:
        time.sleep(0.5)  # the first round found nothing, and its rest is over
        store.enqueue(Job(new_id(), "work", {}))
        first = feeder.take(retired)
        assert first is not None
        emptied = counted.rounds[-1][0]  # the round that took it emptied the queue
        for _ in range(3):  # each signals the queue, which is empty again
            store.enqueue(Job(new_id(), "work", {}))
        taken = [feeder.take(retired) for _ in range(3)]
        assert all(taken)
        later = [(end, n) for end, n in counted.rounds if end > emptied and n]
        assert later[0][0] - emptied >= 0.3 * 0.9, "leased again before its rest was over"
        assert later[0][1] == 3, f"the jobs of the rest came in {len(later)} leases"
        assert later[0][0] - emptied < feed.RESYNC / 2, "the rest waited for the resync"
    finally:
        feeder.close()
        counted.storage.close()


class Deaf:
    """A storage whose wake signals never arrive (a producer that writes without one)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.leased_for: list[set[str]] = []  # the lanes of each lease round

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def woken(self, since: int, queues: Any, timeout: float) -> tuple[int, set[str]]:
        time.sleep(timeout)
        return since, set()

    def lease_many(self, wants: dict[str, int], owner: str, *, lease_for: float) -> Any:
        self.leased_for.append(set(wants))
        return self.storage.lease_many(wants, owner, lease_for=lease_for)


def test_a_job_without_a_signal_is_found_by_one_look_not_a_lease_per_lane(
    url: str, store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the resync the quiet lanes are looked at with one `holding` call, and only the lane
    whose queue holds a job is leased for: a thousand idle lanes cost one call, not 1,000."""
    monkeypatch.setattr(feed, "RESYNC", 0.5)
    lanes = [f"idle-{n}" for n in range(40)]
    deaf = Deaf(open_storage(url))
    feeder = Feeder(deaf, "test-owner", 30.0, give_back=lambda name, leases: None)  # type: ignore[arg-type]
    try:
        for name in [*lanes, "work"]:
            feeder.serve(name, 2)
        time.sleep(0.3)  # the first round: every lane asked once, none found a job
        rounds = len(deaf.leased_for)
        job = Job(new_id(), "work", {})
        store.enqueue(job)
        taken = feeder.take(threading.Event())
        assert taken is not None and taken[1].job_id == job.id
        later = deaf.leased_for[rounds:]
        assert later and all(lanes == {"work"} for lanes in later), later
    finally:
        feeder.close()
        deaf.storage.close()


class Unsure(Deaf):
    """A deaf storage whose look at the quiet lanes fails (the storage went away for it)."""

    def holding(self, queues: Any) -> set[str]:
        raise StorageError("cannot reach the storage while looking for jobs")


def test_when_the_look_fails_every_quiet_lane_is_leased_for(
    url: str, store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resync that cannot tell which lanes hold a job asks each of them, as it did before
    `holding` existed: a job that came without a signal is still found."""
    monkeypatch.setattr(feed, "RESYNC", 0.5)
    unsure = Unsure(open_storage(url))
    feeder = Feeder(unsure, "test-owner", 30.0, give_back=lambda name, leases: None)  # type: ignore[arg-type]
    try:
        for name in ("idle", "work"):
            feeder.serve(name, 2)
        time.sleep(0.3)
        job = Job(new_id(), "work", {})
        store.enqueue(job)
        taken = feeder.take(threading.Event())
        assert taken is not None and taken[1].job_id == job.id
    finally:
        feeder.close()
        unsure.storage.close()


@pytest.mark.parametrize(
    ("concurrency", "ran", "held"),
    [
        (8, feed.QUICK * 2, 15),  # slow jobs: what it runs, and one fewer to start next
        (8, 0.0001, 8 * feed.DEEPEST),  # no-op jobs: the deepest it may hold
        (8, 0.005, 8 + 32),  # 5 ms jobs: 8 threads start 32 of them in AHEAD (20 ms)
        (8, 0.04, 15),  # 40 ms jobs: 4 in AHEAD, but never fewer than concurrency - 1
        (1, 0.0001, 1),  # one at a time: none it has not started, however quick
        (2, math.inf, 3),  # none ran yet: not known to be quick
    ],
)
def test_a_quick_lane_holds_about_ahead_seconds_of_work(
    concurrency: int, ran: float, held: int
) -> None:
    """Jobs leased but not started wait where other daemons cannot take them: a quick lane
    holds more of them (a lease round trip that waits for the GIL does not leave its
    threads idle), but only what its threads would start within AHEAD, and at most DEEPEST
    times its concurrency."""
    slot = feed.Slot(concurrency, ran=ran)
    assert slot.room() == held
    slot.busy, slot.buffer = 1, collections.deque([object()] * 2)  # type: ignore[list-item]
    assert slot.room() == held - 3


class Held:
    """A storage whose leases, once under way, wait for `go` (a slow round trip)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.leasing, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def lease_many(self, wants: dict[str, int], owner: str, *, lease_for: float) -> Any:
        self.leasing.set()
        self.go.wait(10)
        return self.storage.lease_many(wants, owner, lease_for=lease_for)


def test_close_waits_for_a_lease_under_way_and_gives_back_what_it_brings(
    url: str, store: Storage
) -> None:
    """The daemon closes the storage right after the feeder: a lease still under way then
    failed inside the storage's client, on the feeder's thread (a traceback at every such
    stop), and the jobs it took waited for their lease to expire. close() waits for it, and
    what it brings is given back at once."""
    ids = [store.enqueue(Job(new_id(), "work", {})) for _ in range(3)]
    held = Held(open_storage(url))
    given: list[str] = []
    feeder = Feeder(
        held,  # type: ignore[arg-type]
        "test-owner",
        30.0,
        give_back=lambda name, leases: given.extend(lease.job_id for lease in leases),
    )
    feeder.serve("work", 4)
    try:
        assert held.leasing.wait(10)
        closing = threading.Thread(target=feeder.close)
        closing.start()
        closing.join(0.3)
        assert closing.is_alive()  # waiting for the lease under way
        held.go.set()
        closing.join(10)
        assert not closing.is_alive()
        assert sorted(given) == sorted(ids)
    finally:
        held.go.set()
        feeder.close()
        held.storage.close()
