"""The scheduler with a fake clock on real storage: once per tick, overlap, catch-up, reload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from plans import take

from jobrunner.config.load import Options, assemble
from jobrunner.config.model import Config
from jobrunner.job import State, decode
from jobrunner.registry import discover
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, open_storage, records

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def config(text: str) -> Config:
    loaded = assemble({"jobs.yaml": text.encode()}, Options(), now=T0, registry=discover())
    assert not loaded.problems, loaded.problems
    return loaded.config


EVERY = """\
version: 1
queues:
  q: {handler: python, params: {callable: "jobapp:record"}}
cron:
  tick:
    every: 10s
    queue: q
    payload: {n: 1}
    overlap: {overlap}
    starting_deadline: {deadline}
"""


def every(overlap: str = "allow", deadline: str = "10m") -> Config:
    return config(EVERY.replace("{overlap}", overlap).replace("{deadline}", deadline))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'state.db'}")
    yield storage
    storage.close()


def fired(store: Storage) -> list[Any]:
    leases = store.lease("q", "test", count=1000, lease_for=60)
    return [decode(lease.raw) for lease in leases]


def test_each_tick_fires_once_across_schedulers(store: Storage) -> None:
    clock = Clock(T0)
    schedulers = [Scheduler(store, f"s{i}", clock) for i in range(3)]
    for s in schedulers:
        take(s, every(), 1)
    jobs = []
    for _ in range(5):
        clock.advance(10)
        for s in schedulers:
            s.step()
        jobs += fired(store)
    assert [j.tick for j in jobs] == [
        (T0 + timedelta(seconds=10 * n)).timestamp() for n in range(1, 6)
    ]
    assert all(j.cron == "tick" and j.payload == {"n": 1} for j in jobs)


def test_step_says_how_long_to_sleep(store: Storage) -> None:
    clock = Clock(T0 + timedelta(seconds=3))
    s = Scheduler(store, "s", clock)
    take(s, every(), 1)
    assert s.step() == pytest.approx(7.0)


def test_overlap_forbid_skips_while_the_previous_run_is_queued(store: Storage) -> None:
    clock = Clock(T0)
    s = Scheduler(store, "s", clock)
    take(s, every(overlap="forbid"), 1)
    clock.advance(10)
    s.step()
    clock.advance(10)
    s.step()  # the first run is still queued: skipped
    state = store.get_value("cron:tick")
    assert state["skipped"] == 1
    [lease] = store.lease("q", "w", count=10, lease_for=60)
    record = store.record(lease.job_id)
    assert record is not None
    from dataclasses import replace

    store.ack(lease, replace(record, state=State.SUCCEEDED), 60)
    clock.advance(10)
    s.step()
    assert len(fired(store)) == 1


def test_catch_up_runs_the_newest_missed_tick_once(store: Storage) -> None:
    store.set_value("cron:tick", {"last": T0.timestamp()})
    clock = Clock(T0 + timedelta(seconds=35))  # ticks at :10, :20, :30 were missed
    s = Scheduler(store, "s", clock)
    take(s, every(deadline="10m"), 1)
    s.step()
    jobs = fired(store)
    assert [j.tick for j in jobs] == [(T0 + timedelta(seconds=30)).timestamp()]


def test_starting_deadline_zero_never_catches_up(store: Storage) -> None:
    store.set_value("cron:tick", {"last": T0.timestamp()})
    clock = Clock(T0 + timedelta(seconds=35))
    s = Scheduler(store, "s", clock)
    take(s, every(deadline="0"), 1)
    s.step()
    assert fired(store) == []
    clock.advance(5)  # :40 comes due while running: on time, it fires
    s.step()
    assert [j.tick for j in fired(store)] == [(T0 + timedelta(seconds=40)).timestamp()]


def test_a_missed_tick_older_than_the_deadline_is_skipped(store: Storage) -> None:
    store.set_value("cron:tick", {"last": T0.timestamp()})
    clock = Clock(T0 + timedelta(minutes=30, seconds=5))
    s = Scheduler(store, "s", clock)
    take(s, every(deadline="5s"), 1)
    s.step()
    assert fired(store) == []


def test_missed_ticks_are_counted_in_the_entry_state_once_across_schedulers(
    store: Storage,
) -> None:
    store.set_value("cron:tick", {"last": T0.timestamp(), "skipped": 2})
    clock = Clock(T0 + timedelta(minutes=30, seconds=5))  # 180 ticks, all past the deadline
    for n in (1, 2):  # two schedulers pass over the same ticks: counted once
        s = Scheduler(store, f"s{n}", clock)
        take(s, every(deadline="5s"), 1)
        s.step()
    state = records.read_cron(store, "tick")
    assert (state.missed, state.skipped) == (180, 2)
    clock.advance(25)  # to 30:30: 30:10 and 30:20 missed, 30:30 is due and fires
    s.step()
    assert records.read_cron(store, "tick").missed == 182
    assert [j.tick for j in fired(store)] == [clock.now.timestamp()]


def test_suspended_entries_do_not_fire(store: Storage) -> None:
    clock = Clock(T0)
    s = Scheduler(store, "s", clock)
    take(
        s,
        config(
            EVERY.replace("{overlap}", "allow").replace("{deadline}", "0") + "    suspend: true\n"
        ),
        1,
    )
    clock.advance(30)
    s.step()
    assert fired(store) == []


def test_reload_keeps_unchanged_entries_and_replans_changed_ones(store: Storage) -> None:
    clock = Clock(T0 + timedelta(seconds=1))
    s = Scheduler(store, "s", clock)
    take(s, every(), 1)
    s.step()
    assert s.next_ticks()["tick"] == T0 + timedelta(seconds=10)
    take(s, every(overlap="forbid"), 2)  # same schedule: same plan
    assert s.next_ticks()["tick"] == T0 + timedelta(seconds=10)
    changed = config(
        EVERY.replace("every: 10s", "every: 1m")
        .replace("{overlap}", "allow")
        .replace("{deadline}", "0")
    )
    take(s, changed, 3)
    s.step()
    assert s.next_ticks()["tick"] == T0 + timedelta(minutes=1)
    take(s, config("version: 1\n"), 4)
    assert s.next_ticks() == {}


def test_handler_entries_run_in_their_own_lane(store: Storage) -> None:
    clock = Clock(T0)
    s = Scheduler(store, "s", clock)
    take(
        s,
        config("""\
version: 1
cron:
  own:
    schedule: "*/5 * * * * *"
    handler: python
    params: {callable: "jobapp:record"}
"""),
        1,
    )
    clock.advance(5)
    s.step()
    [lease] = store.lease("own", "w", count=5, lease_for=60)
    job = decode(lease.raw)
    assert job.payload == {"cron": "own", "tick": (T0 + timedelta(seconds=5)).isoformat()}


def test_dst_spring_forward_and_fall_back_in_berlin(store: Storage) -> None:
    """Debian cron: a job in the skipped hour runs right after the gap; a repeated hour once."""
    text = """\
version: 1
cron:
  nightly:
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    handler: python
    params: {callable: "jobapp:record"}
    overlap: allow
"""
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 2026-10-25: 03:00 CEST falls back to 02:00 CET.
    for start, expected in (
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ):
        clock = Clock(start)
        s = Scheduler(store, "s", clock)
        take(s, config(text), 1)
        for _ in range(6 * 60):  # six hours, minute by minute
            clock.advance(60)
            s.step()
        ticks = [
            datetime.fromtimestamp(j.tick, UTC)
            for j in (decode(x.raw) for x in store.lease("nightly", "w", count=10, lease_for=60))
        ]
        assert ticks == [expected], (start, ticks)
