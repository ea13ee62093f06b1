"""Pins `scheduler.ticks.decide`: on-time fires, catch-ups, missed counts and the next tick.

Every clock value is a literal instant: nothing sleeps or reads the time. The
ticks are worked out by hand: `Every` is aligned to the Unix epoch and T0,
2026-03-28 12:00:00 UTC, is a whole minute, so every-10-seconds ticks fall at
T0 + 0 s, 10 s, 20 s, … and every-minute ticks at T0 + 0, 1 min, 2 min, ….
`last` is the newest tick the scheduler has dealt with; like the scheduler
loop, a run that repeats a decision passes `last = now` from the previous step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobrunner.scheduler.ticks import MAX_COUNTED, ON_TIME, Decision, decide
from jobrunner.values.schedule import At, Cron, Every

T0 = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
TEN_S = Every(timedelta(seconds=10))
MINUTE = Every(timedelta(minutes=1))
DEADLINE = timedelta(minutes=10)  # the default starting_deadline of a cron entry


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_constants() -> None:
    assert timedelta(seconds=2) == ON_TIME
    assert MAX_COUNTED == 10_000


# -- on time -----------------------------------------------------------------


def test_a_tick_on_time_fires() -> None:
    assert decide(TEN_S, at(0), at(10), DEADLINE) == Decision(at(10), next=at(20))


def test_a_tick_up_to_on_time_late_still_fires_on_time() -> None:
    assert decide(TEN_S, at(0), at(11), DEADLINE) == Decision(at(10), next=at(20))
    assert decide(TEN_S, at(0), at(12), DEADLINE) == Decision(at(10), next=at(20))


def test_a_tick_later_than_on_time_is_a_catch_up() -> None:
    assert decide(TEN_S, at(0), at(12.000001), DEADLINE) == Decision(
        at(10), catch_up=True, next=at(20)
    )


def test_a_cron_tick_fires_on_time() -> None:
    # */5: 12:00, 12:05, 12:10
    every_five = Cron("*/5 * * * *")
    assert decide(every_five, at(0), at(301), DEADLINE) == Decision(at(300), next=at(600))


def test_nothing_fires_between_ticks() -> None:
    assert decide(TEN_S, at(10), at(15), DEADLINE) == Decision(None, next=at(20))


def test_a_handled_tick_does_not_fire_again() -> None:
    # the scheduler fired :10 at :10 and looks again at the same instant and a second later
    assert decide(TEN_S, at(10), at(10), DEADLINE) == Decision(None, next=at(20))
    assert decide(TEN_S, at(10), at(11), DEADLINE) == Decision(None, next=at(20))


def test_deadline_zero_still_fires_on_time() -> None:
    # Not at exactly ON_TIME late: with deadline 0 the scan starts strictly after
    # now - ON_TIME, so a tick exactly 2 s old is passed over (see the report).
    zero = timedelta(0)
    assert decide(TEN_S, at(0), at(11), zero) == Decision(at(10), next=at(20))
    assert decide(TEN_S, at(0), at(11.999999), zero) == Decision(at(10), next=at(20))


# -- after downtime ------------------------------------------------------------


def test_after_downtime_only_the_newest_missed_tick_fires_as_a_catch_up() -> None:
    # down from :00 to :35: :10 and :20 are missed, :30 (5 s old) catches up
    assert decide(TEN_S, at(0), at(35), DEADLINE) == Decision(
        at(30), catch_up=True, missed=2, next=at(40)
    )


def test_the_newest_tick_catches_up_while_it_is_at_most_starting_deadline_old() -> None:
    # down from 12:00 to 12:10:19.999999; the 12:10 tick is just under the 20 s deadline
    # old. (Exactly 20 s old it is passed over: the scan starts strictly after
    # now - deadline, though the age check is inclusive; see the report.)
    deadline = timedelta(seconds=20)
    assert decide(MINUTE, at(0), at(619.999999), deadline) == Decision(
        at(600), catch_up=True, missed=9, next=at(660)
    )
    assert decide(MINUTE, at(0), at(610), deadline) == Decision(
        at(600), catch_up=True, missed=9, next=at(660)
    )


def test_a_newest_tick_older_than_starting_deadline_is_missed_too() -> None:
    # 12:01 … 12:10 all passed; the newest is 20.000001 s or 30 s old, the deadline 20 s
    deadline = timedelta(seconds=20)
    assert decide(MINUTE, at(0), at(620.000001), deadline) == Decision(
        None, missed=10, next=at(660)
    )
    assert decide(MINUTE, at(0), at(630), deadline) == Decision(None, missed=10, next=at(660))


def test_starting_deadline_zero_never_catches_up() -> None:
    zero = timedelta(0)
    # :10, :20, :30 passed while down; :30 is 5 s old
    assert decide(TEN_S, at(0), at(35), zero) == Decision(None, missed=3, next=at(40))
    # a running scheduler that looks 3 s after the tick
    assert decide(TEN_S, at(0), at(13), zero) == Decision(None, missed=1, next=at(20))


# -- armed: the scheduler took the entry on after the tick -----------------------


def test_a_recent_tick_from_before_arming_is_a_catch_up_not_an_on_time_fire() -> None:
    # :10 is 1 s old, but it passed before this scheduler took the entry on at :10.5
    assert decide(TEN_S, at(0), at(11), DEADLINE, armed=at(10.5)) == Decision(
        at(10), catch_up=True, next=at(20)
    )


def test_a_tick_at_the_arming_instant_passed_before_it_too() -> None:
    assert decide(TEN_S, at(0), at(11), DEADLINE, armed=at(10)) == Decision(
        at(10), catch_up=True, next=at(20)
    )


def test_a_recent_tick_from_before_arming_is_missed_with_deadline_zero() -> None:
    assert decide(TEN_S, at(0), at(11), timedelta(0), armed=at(10.5)) == Decision(
        None, missed=1, next=at(20)
    )


def test_a_tick_after_arming_fires_on_time() -> None:
    assert decide(TEN_S, at(0), at(11), DEADLINE, armed=at(5)) == Decision(at(10), next=at(20))
    assert decide(TEN_S, at(0), at(11), timedelta(0), armed=at(5)) == Decision(at(10), next=at(20))


# -- next ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "now", "following"),
    [
        (0, 0, 10),  # now on a tick: the next one is strictly after it
        (0, 9.999999, 10),
        (0, 10, 20),
        (0, 35, 40),  # after downtime
        (0, 3600, 3610),  # after downtime longer than the deadline
    ],
)
def test_next_is_the_first_tick_after_now(last: float, now: float, following: float) -> None:
    assert decide(TEN_S, at(last), at(now), DEADLINE).next == at(following)


# -- one-shot `at` ---------------------------------------------------------------


def test_a_one_shot_fires_once_and_then_has_no_next() -> None:
    once = At(at(10))
    assert decide(once, at(0), at(5), DEADLINE) == Decision(None, next=at(10))
    assert decide(once, at(5), at(10), DEADLINE) == Decision(at(10), next=None)


def test_a_one_shot_in_the_past_never_fires_twice() -> None:
    once = At(at(10))
    fired = []
    last = at(0)
    for now in (at(5), at(10), at(10), at(11), at(12), at(60), at(3600), at(86_400)):
        decision = decide(once, last, now, DEADLINE)
        if decision.fire is not None:
            fired.append(decision.fire)
        assert decision.next == (at(10) if now < at(10) else None)
        last = max(last, now)  # what the scheduler loop does after each decision
    assert fired == [at(10)]


def test_a_one_shot_passed_in_downtime_catches_up_once() -> None:
    once = At(at(10))
    assert decide(once, at(0), at(60), DEADLINE) == Decision(at(10), catch_up=True, next=None)
    assert decide(once, at(60), at(61), DEADLINE) == Decision(None, next=None)


def test_a_one_shot_older_than_the_deadline_is_missed_once() -> None:
    once = At(at(10))
    assert decide(once, at(0), at(3600), DEADLINE) == Decision(None, missed=1, next=None)
    assert decide(once, at(3600), at(3601), DEADLINE) == Decision(None, next=None)


# -- counting missed ticks -------------------------------------------------------


@pytest.mark.parametrize(
    ("passed", "counted"),
    [(9_999, 9_999), (10_000, 10_000), (10_001, 10_000), (259_200, 10_000)],
)
def test_missed_ticks_are_counted_up_to_max_counted(passed: int, counted: int) -> None:
    # ticks :10 … passed * 10 s all passed; now is 5 s after the newest, deadline 0
    now = at(passed * 10 + 5)
    assert decide(TEN_S, at(0), now, timedelta(0)) == Decision(
        None, missed=counted, next=at(passed * 10 + 10)
    )


def test_missed_ticks_before_a_catch_up_are_counted_up_to_max_counted() -> None:
    # a month down on an every-minute entry: 43,200 ticks, the newest catches up
    now = at(30 * 86_400 + 30)
    assert decide(MINUTE, at(0), now, DEADLINE) == Decision(
        at(30 * 86_400), catch_up=True, missed=MAX_COUNTED, next=at(30 * 86_400 + 60)
    )


# -- properties -------------------------------------------------------------------

intervals = st.integers(1_000_000, 86_400_000_000).map(lambda us: timedelta(microseconds=us))
instants = st.integers(0, 366 * 86_400_000_000).map(lambda us: T0 + timedelta(microseconds=us))
spans = st.integers(0, 10 * 86_400_000_000).map(lambda us: timedelta(microseconds=us))
deadlines = st.integers(0, 3_600_000_000).map(lambda us: timedelta(microseconds=us))


@given(intervals, instants, spans, deadlines, st.none() | st.floats(0.0, 1.0))
def test_decide_fires_only_past_ticks_and_names_the_first_tick_after_now(
    interval: timedelta,
    now: datetime,
    down: timedelta,
    deadline: timedelta,
    armed_at: float | None,
) -> None:
    when = Every(interval)
    last = now - down
    armed = None if armed_at is None else last + down * armed_at
    got = decide(when, last, now, deadline, armed)
    assert got.next is not None
    assert now < got.next <= now + interval
    assert got.missed >= 0
    if got.fire is not None:
        assert last < got.fire <= now
        assert got.next - got.fire == interval  # the newest tick, not an older one
        if got.catch_up:
            assert now - got.fire <= deadline
        else:
            assert now - got.fire <= ON_TIME
            assert armed is None or got.fire > armed
    # the scheduler then records `last = now`: looking again never fires again
    assert decide(when, now, now, deadline, armed).fire is None
