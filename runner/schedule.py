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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from jobrunner import duration

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
    text = expression.strip()
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
    """The first fire time strictly after `after` (aware), or None if there is none.

    Times come back in UTC: Python compares and subtracts two datetimes of the
    same zone by wall time, ignoring `fold`, which is wrong in a fall-back hour.
    None also when the next fire time would fall past the year 9999.
    """
    try:
        if isinstance(schedule, At):
            return schedule.when.astimezone(UTC) if schedule.when > after else None
        if isinstance(schedule, Every):  # exact integer arithmetic on microseconds
            ticks = (after - _EPOCH) // schedule.interval + 1
            return _EPOCH + ticks * schedule.interval
        return _next_cron(schedule, after)
    except OverflowError:
        return None


def _next_cron(schedule: Cron, after: datetime) -> datetime | None:
    zone = ZoneInfo(schedule.timezone)
    for local in CronSim(schedule.fields, after.astimezone(zone)):
        fire = local.astimezone(UTC)
        # cronsim steps fixed-time jobs by wall-clock time, so from inside the
        # second pass of a fall-back hour it returns that hour's first pass,
        # which is earlier than `after`: that run has happened already.
        if fire > after:
            return fire
    return None  # cronsim looks 50 years ahead and found nothing


def upcoming(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after`, in UTC; fewer if the schedule ends."""
    times: list[datetime] = []
    while len(times) < count:
        fire = next_fire(schedule, times[-1] if times else after)
        if fire is None:
            break
        times.append(fire)
    return times


def explain(schedule: Schedule) -> str:
    """The schedule in words: `At minute 0 past every hour (Europe/Berlin)`."""
    if isinstance(schedule, At):
        return f"Once, at {schedule.when.isoformat()}"
    if isinstance(schedule, Every):
        return f"Every {duration.format(schedule.interval)}, aligned to the Unix epoch"
    words = CronSim(schedule.fields, datetime(2000, 1, 1, tzinfo=UTC)).explain()
    return f"{words} ({schedule.timezone})"
