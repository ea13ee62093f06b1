"""The books of the cron ticks: every tick outside an outage fired exactly once.

Pure: from the cron entries in force, the ticks the daemons fired (and skipped),
the edges of the run and the outages the suite itself caused and recorded, it
accounts for every tick the schedules had while the run lasted. Each one

- fired once (twice is a failure);
- or was skipped by `overlap: forbid` (the daemons log each skip);
- or is excused, with its reason counted:
  `starting` up to START_MARGIN after the first daemon was ready,
  `stopping` from STOP_MARGIN before the first SIGTERM of the end on,
  or inside an outage (`Redis down`, `no scheduler alive`) widened by LEAD
  before it and RECOVERY after it;
- or is missing, which fails the books with the entry and the tick named.

`starting_deadline` (scheduler/ticks.py): of the ticks missed in an outage
only the newest may run, once, on recovery, and only if it is younger than the
entry's `starting_deadline` then (`0`: never). So in each outage the newest
tick is not excused when it is still that young at the latest moment recovery
can come (the outage's end plus RECOVERY): it must have fired.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim

from jobrunner.config.model import Cron
from jobrunner.values import schedule

START_MARGIN = 1.0  # the first daemon's scheduler is armed just before it logs "ready"
STOP_MARGIN = 1.0  # the suite's SIGTERMs stop the schedulers; ticks this close before may race it
LEAD = 0.5  # a tick due this shortly before an outage may still be in flight when it begins
RECOVERY = 1.5  # after a storage error a scheduler tries again 1 s later (loop.MAX_SLEEP)

Key = tuple[str, float]  # (cron entry, tick as a Unix time rounded to the millisecond)


def key(name: str, tick: float) -> Key:
    return (name, round(tick, 3))


@dataclass(frozen=True, slots=True)
class Outage:
    reason: str  # "Redis down", "no scheduler alive"
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Edges:
    """Unix times of the run's edges, as the suite recorded them."""

    launched: float  # the first daemon was started
    ready: float  # the first daemon logged "ready": its scheduler is armed
    stopping: float  # the first SIGTERM of the end was sent
    ended: float  # the last daemon exited


@dataclass
class TickBooks:
    expected: int = 0
    fired: int = 0
    skipped: int = 0  # by overlap: forbid, as the daemons logged
    excused: Counter[str] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # fired, but no tick of the run's schedules

    @property
    def balanced(self) -> bool:
        return not (self.missing or self.twice or self.stray)

    def line(self) -> str:
        """One line: `ticks expected 19, fired 17, excused 2 (starting 1, stopping 1), ...`."""
        reasons = ", ".join(f"{why} {n}" for why, n in sorted(self.excused.items()))
        text = (
            f"ticks expected {self.expected}, fired {self.fired}, "
            f"excused {sum(self.excused.values())}" + (f" ({reasons})" if reasons else "")
        )
        if self.skipped:
            text += f", skipped {self.skipped}"
        text += f", missing {len(self.missing)}{_named(self.missing)}"
        text += f", twice {len(self.twice)}{_named(self.twice)}"
        if self.stray:
            text += f", stray {len(self.stray)}{_named(self.stray)}"
        return text


def _named(ticks: list[str], shown: int = 3) -> str:
    if not ticks:
        return ""
    more = f", +{len(ticks) - shown} more" if len(ticks) > shown else ""
    return f" [{', '.join(ticks[:shown])}{more}]"


def stamp(name: str, tick: float) -> str:
    """`tick@12:00:01.000Z`: an entry and one of its ticks, in UTC."""
    whole = time.strftime("%H:%M:%S", time.gmtime(tick))
    return f"{name}@{whole}.{round(tick * 1000) % 1000:03d}Z"


def expected_ticks(when: schedule.Schedule, start: float, end: float) -> list[float]:
    """The ticks of `when` in [start, end], computed here (not by the scheduler's code)."""
    if isinstance(when, schedule.Every):
        step = round(when.interval.total_seconds() * 1_000_000)  # microseconds, exact
        first = -(-round(start * 1_000_000) // step)
        last = round(end * 1_000_000) // step
        return [n * step / 1_000_000 for n in range(first, last + 1)]
    if isinstance(when, schedule.At):
        at = when.when.timestamp()
        return [at] if start <= at <= end else []
    zone = ZoneInfo(when.timezone)
    begin = datetime.fromtimestamp(start - 0.001, UTC).astimezone(zone)  # cronsim: after `begin`
    found = []
    for fire in CronSim(when.fields, begin):
        t = fire.timestamp()
        if t > end:
            break
        if t >= start:
            found.append(t)
    return found


def merged(outages: Iterable[Outage]) -> list[Outage]:
    """The outages widened by LEAD and RECOVERY, overlapping ones merged (reasons joined)."""
    out: list[Outage] = []
    for o in sorted(outages, key=lambda o: o.start):
        start, end = o.start - LEAD, o.end + RECOVERY
        if out and start <= out[-1].end:
            last = out[-1]
            reasons = (
                last.reason
                if o.reason in last.reason.split(" + ")
                else (f"{last.reason} + {o.reason}")
            )
            out[-1] = Outage(reasons, last.start, max(last.end, end))
        else:
            out.append(Outage(o.reason, start, end))
    return out


def account(
    crons: Mapping[str, Cron],
    fired: Mapping[Key, set[str]],
    skipped: Iterable[Key],
    edges: Edges,
    outages: Sequence[Outage],
) -> TickBooks:
    """Account for every tick of `crons` between the run's edges; `fired` maps a tick to
    the ids of the jobs fired for it."""
    result = TickBooks()
    windows = merged(outages)
    skips = set(skipped)
    expected: set[Key] = set()
    for name, cron in sorted(crons.items()):
        if cron.suspend:
            continue
        ticks = expected_ticks(cron.schedule, edges.launched, edges.ended)
        deadline = cron.starting_deadline.total_seconds()
        must_catch_up = set()
        for window in windows:
            inside = [t for t in ticks if window.start <= t <= window.end]
            if inside and deadline > 0 and window.end - max(inside) <= deadline:
                must_catch_up.add(max(inside))
        for tick in ticks:
            k = key(name, tick)
            expected.add(k)
            result.expected += 1
            jobs = fired.get(k, set())
            if jobs:
                result.fired += 1
                if len(jobs) > 1:
                    result.twice.append(f"{stamp(name, tick)} ({len(jobs)} jobs)")
            elif k in skips:
                result.skipped += 1
            elif tick <= edges.ready + START_MARGIN:
                result.excused["starting"] += 1
            elif tick >= edges.stopping - STOP_MARGIN:
                result.excused["stopping"] += 1
            elif (w := _within(windows, tick)) and tick not in must_catch_up:
                result.excused[w.reason] += 1
            else:
                why = " (newest of an outage, younger than starting_deadline)" * (
                    tick in must_catch_up
                )
                result.missing.append(stamp(name, tick) + why)
    strays = sorted(k for k in set(fired) - expected if fired[k])
    result.stray = [stamp(name, tick) for name, tick in strays]
    return result


def _within(windows: Sequence[Outage], tick: float) -> Outage | None:
    return next((w for w in windows if w.start <= tick <= w.end), None)
