"""When a cron entry fires: cron expressions, fixed intervals and one-shot times.

Pure functions of their arguments; the clock is always passed in.

- cron: 5 fields, or 6 with seconds first, names, `L`, `#` and the macros
  `@yearly @annually @monthly @weekly @daily @midnight @hourly`, evaluated by
  cronsim in the entry's IANA time zone with Debian cron's DST behaviour: a
  5-field job at a fixed time (minute and hour fields not starting with `*`)
  that spring-forward skips runs at the first instant after the gap, and one
  at a time fall-back repeats runs once, at its first occurrence; jobs with a
  wildcard minute or hour, and all 6-field expressions, run by real time (an
  hourly job runs twice in a repeated hour, and not in a skipped one).
- every: a fixed interval aligned to the Unix epoch, so all replicas agree.
- at: one instant given in RFC 3339 with an offset.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from jobrunner.values import duration

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str  # as written, macros included
    timezone: str = "UTC"

    @property
    def fields(self) -> str:
        return MACROS.get(self.expression.strip().lower(), self.expression)


@dataclass(frozen=True, slots=True)
class Every:
    interval: timedelta


@dataclass(frozen=True, slots=True)
class At:
    when: datetime


Schedule = Cron | Every | At


def check_cron(expression: str) -> str | None:
    """None when `expression` is a valid cron expression, else why it is not."""
    return _check_cron(expression.strip())


@lru_cache(maxsize=4096)
def _check_cron(text: str) -> str | None:
    """Checked once per distinct expression: a job directory repeats a few dozen."""
    if text.startswith("@"):
        if text.lower() in MACROS:
            return None
        known = ", ".join(MACROS)
        return f"unknown macro '{text}': expected one of {known}"
    count = len(text.split())
    if count not in (5, 6):
        return (
            f"a cron expression has 5 fields (minute hour day month weekday), "
            f"or 6 with seconds first; found {count} in '{text}'"
        )
    try:
        fires = next(CronSim(text, datetime(2000, 1, 1, tzinfo=UTC)), None)
    except CronSimError as exc:
        return f"invalid cron expression '{text}': {str(exc).lower()} field"
    except (ValueError, IndexError, KeyError) as exc:  # cronsim's own edge cases
        return f"invalid cron expression '{text}': {exc}"
    if fires is None:  # like `0 0 */10 2 SUN#5`: a fifth Sunday in February is the 29th
        return f"cron expression '{text}' never fires: no date matches all of its fields"
    return None


def parse_at(text: str) -> datetime:
    """An RFC 3339 time with an offset; `ValueError` with a message otherwise."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid time '{text}': expected RFC 3339 with an offset, "
            "like 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise ValueError(
            f"time '{text}' has no UTC offset: add one (Z, +01:00, …) so every host agrees"
        )
    return when


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (aware), or None if there is none."""
    return next(fire_times(schedule, after), None)


def upcoming(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after`, in UTC; fewer if the schedule ends."""
    return list(itertools.islice(fire_times(schedule, after), count))


def fire_times(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after `after` (aware), in order, in UTC.

    UTC because Python compares and subtracts two datetimes of the same zone
    by wall time, ignoring `fold`, which is wrong in a fall-back hour. The
    times end with the schedule, or before they would pass the year 9999.
    """
    try:
        if isinstance(schedule, At):
            if schedule.when > after:
                yield schedule.when.astimezone(UTC)
        elif isinstance(schedule, Every):  # exact integer arithmetic on microseconds
            tick = _EPOCH + ((after - _EPOCH) // schedule.interval + 1) * schedule.interval
            while True:
                yield tick
                tick += schedule.interval
        else:
            yield from _cron_times(schedule, after)
    except OverflowError:
        return


def _cron_times(schedule: Cron, after: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(schedule.timezone)
    last = after
    for local in CronSim(schedule.fields, after.astimezone(zone)):  # 50 years ahead at most
        fire = local.astimezone(UTC)
        # cronsim steps fixed-time jobs by wall-clock time, so from inside the
        # second pass of a fall-back hour it returns that hour's first pass,
        # which is earlier than `after`: that run has happened already.
        if fire > last:
            yield fire
            last = fire


def explain(schedule: Schedule) -> str:
    """The schedule in words: `At minute 0 past every hour (Europe/Berlin)`."""
    if isinstance(schedule, At):
        return f"Once, at {schedule.when.isoformat()}"
    if isinstance(schedule, Every):
        return f"Every {duration.format(schedule.interval)}, aligned to the Unix epoch"
    words = CronSim(schedule.fields, datetime(2000, 1, 1, tzinfo=UTC)).explain()
    return f"{words} ({schedule.timezone})"
