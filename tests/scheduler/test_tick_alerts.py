"""Missed and skipped ticks are reported to the alerts, each with an identity every
scheduler agrees on (so that it is delivered once), on real storage with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from plans import take
from test_scheduler import T0, Clock, every

from jobrunner.alerts.event import Event
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, open_storage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'state.db'}")
    yield storage
    storage.close()


def test_missed_ticks_are_reported_with_the_first_missed_tick(store: Storage) -> None:
    store.set_value("cron:tick", {"last": T0.timestamp()})
    clock = Clock(T0 + timedelta(minutes=30, seconds=5))
    seen: list[list[Event]] = [[], []]
    for told in seen:
        s = Scheduler(store, f"s{len(told)}", clock, alert=told.append)
        take(s, every(deadline="5s"), 1)
        s.step()
    first, second = seen
    assert [e.kind for e in first] == ["tick.missed"]
    assert first[0].identity == second[0].identity
    assert first[0].details["tick"] == (T0 + timedelta(seconds=10)).isoformat()
    assert first[0].details["missed"] == 180  # :10 up to 30:00, none run
    assert first[0].subject == "tick"


def test_a_skipped_tick_is_reported_once(store: Storage) -> None:
    clock = Clock(T0)
    told: list[Event] = []
    schedulers = [Scheduler(store, f"s{n}", clock, alert=told.append) for n in (1, 2)]
    for s in schedulers:
        take(s, every(overlap="forbid"), 1)
    for _ in range(2):
        clock.advance(10)
        for s in schedulers:
            s.step()
    assert [(e.kind, e.details["tick"]) for e in told] == [
        ("tick.skipped", (T0 + timedelta(seconds=20)).isoformat())
    ]
    assert told[0].details["previous"] is not None
