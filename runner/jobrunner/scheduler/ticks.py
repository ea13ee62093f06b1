"""Which tick of a cron entry to fire now: on time, as a catch-up, or not at all. Pure.

The scheduler remembers, per entry, the newest tick it has dealt with
(`last`). Ticks that come due while it runs fire on time. Ticks that passed
while no scheduler ran (or while the storage was unreachable) are missed;
of those only the newest may run, once, and only if it is younger than the
entry's `starting_deadline` (`0`: never catch up), like Kubernetes CronJobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jobrunner.values import schedule

ON_TIME = timedelta(seconds=2)  # a tick this late still counts as on time, not a catch-up
MAX_COUNTED = 10_000  # missed ticks are counted up to this many


@dataclass(frozen=True, slots=True)
class Decision:
    fire: datetime | None  # the tick to fire now, if any
    catch_up: bool = False  # it is a missed tick fired after downtime
    missed: int = 0  # ticks passed over without running
    next: datetime | None = None  # the first tick after now


def decide(
    when: schedule.Schedule,
    last: datetime,
    now: datetime,
    starting_deadline: timedelta,
    armed: datetime | None = None,
) -> Decision:
    """What to do at `now` for an entry whose newest handled tick is `last`.

    `armed` is when this scheduler took the entry on: ticks up to then passed
    while no scheduler ran it, so they are missed however recent they are.
    """
    window = max(starting_deadline, ON_TIME)
    newest = None
    tick = schedule.next_fire(when, max(last, now - window))
    while tick is not None and tick <= now:
        newest = tick
        tick = schedule.next_fire(when, tick)
    following = tick if tick is not None and tick > now else schedule.next_fire(when, now)
    older = _count(when, last, min(newest, now) if newest else now)
    if newest is None:
        return Decision(None, missed=older, next=following)
    lateness = now - newest
    if (armed is None or newest > armed) and lateness <= ON_TIME:
        return Decision(newest, missed=older, next=following)
    if lateness <= starting_deadline:
        return Decision(newest, catch_up=True, missed=older, next=following)
    return Decision(None, missed=older + 1, next=following)


def _count(when: schedule.Schedule, after: datetime, before: datetime) -> int:
    """Ticks strictly between `after` and `before`, counted up to MAX_COUNTED."""
    count = 0
    tick = schedule.next_fire(when, after)
    while tick is not None and tick < before and count < MAX_COUNTED:
        count += 1
        tick = schedule.next_fire(when, tick)
    return count
