"""The deployment at a glance, read from the shared storage: the configuration in force
(with the Git commit it came from, when the plan that produced it recorded one) and the
last plan applied, live daemons, every queue's counts and pause, every cron entry's last
and next tick, recorded problems, and what the storage holds that does not read.

One read model for every way of looking: `jobrunner status` prints it, the HTTP API
serves it, so there is no second way to read the storage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from jobrunner.storage import records
from jobrunner.storage.base import Pause, QueueStats, Storage
from jobrunner.storage.records import Entry, Published
from jobrunner.storage.stored import is_time

COUNTS = ("ready", "scheduled", "running", "dead")


def gather(storage: Storage, now: float) -> dict[str, Any]:
    """Everything `status` shows, as JSON-ready data (what `--json` prints).

    What the storage holds that does not read (a stray writer's bytes, a key of the
    wrong type) never stops the rest: it is listed under `storage_problems` with the
    reason, and the rest is shown as usual.
    """
    damage: list[dict[str, str]] = []
    data = _value(storage.published, "the published configuration", damage)
    doc = records.Published.from_dict(data) if data is not None else None
    daemons = []
    for d in storage.daemons():
        seen = d.get("seen")
        daemons.append({**d, "beat_age": now - seen if is_time(seen) else None})
        if "unreadable" in d:
            damage.append({"what": f"daemon {d['id']}", "reason": str(d["unreadable"])})
    kept = _value(lambda: storage.get_value(records.PLAN_KEY), "the applied plan", damage)
    plan = records.AppliedPlan.from_dict(kept) if kept is not None else None
    stored = _value(lambda: storage.get_value(records.PROBLEMS_KEY), "the problems record", damage)
    problems = records.ProblemsRecord.from_dict(stored) if stored is not None else None
    stats, paused = storage.stats(), storage.paused()
    for name, counts in stats.items():
        if counts.broken:
            damage.append({"what": f"queue {name}", "reason": counts.broken})
        if counts.set_aside:
            damage.append({"what": f"queue {name}", "reason": _aside(storage, name, counts)})
    damage.extend(_unreadable(paused))
    return {
        "now": now,
        "storage": storage.url,
        "config": _config(doc, plan),
        "daemons": daemons,
        "queues": _queues(doc, stats, paused, now),
        "crons": _crons(storage, doc, now, damage),
        "problems": problems.as_dict() if problems is not None else None,
        "plan": plan.as_dict() if plan is not None else None,
        "storage_problems": damage,
    }


def _config(doc: Published | None, plan: records.AppliedPlan | None) -> dict[str, Any] | None:
    """The configuration in force; its commit is the one its plan recorded (None: unknown)."""
    if doc is None:
        return None
    made = plan if plan is not None and plan.generation == doc.generation else None
    return {
        "generation": doc.generation,
        "hash": doc.hash,
        "commit": made.commit if made is not None else None,
        "files": list(doc.files),
    }


def all_queues(storage: Storage, now: float) -> dict[str, Any]:
    """Every queue with its counts and pause (what `jobrunner queues list --json` prints):
    `queues` as `gather` has it, and the `storage_problems` met on the way."""
    damage: list[dict[str, str]] = []
    data = _value(storage.published, "the published configuration", damage)
    doc = records.Published.from_dict(data) if data is not None else None
    paused = storage.paused()
    damage.extend(_unreadable(paused))
    queues = _queues(doc, storage.stats(), paused, now)
    return {"queues": queues, "storage_problems": damage}


def _unreadable(paused: Mapping[str, Pause]) -> list[dict[str, str]]:
    return [
        {
            "what": f"queue {name}",
            "reason": f"its pause does not read ({p.unreadable}): it stays paused until resumed",
        }
        for name, p in paused.items()
        if p.unreadable
    ]


def _value(read: Callable[[], Any], what: str, damage: list[dict[str, str]]) -> Any:
    """A JSON object the daemons keep, or None; one that does not read is noted in `damage`."""
    try:
        data = read()
    except (ValueError, TypeError) as exc:
        reason = f"{exc}; the daemons write it anew"
        damage.append({"what": what, "reason": reason})
        return None
    if data is not None and not isinstance(data, Mapping):
        reason = f"it is JSON {type(data).__name__}, not an object; the daemons write it anew"
        damage.append({"what": what, "reason": reason})
        return None
    return data


def _aside(storage: Storage, queue: str, counts: QueueStats) -> str:
    n = counts.set_aside
    where = ""
    if storage.url.startswith(("redis", "rediss")):
        where = (
            f": kept as jr:{{{queue}}}:corrupt:*, each with its reason in jr:{{{queue}}}:corrupt"
        )
    return f"{n} stray key{'' if n == 1 else 's'} of the wrong type set aside{where}"


def _queues(
    doc: Published | None,
    stats: Mapping[str, QueueStats],
    paused: Mapping[str, Pause],
    now: float,
) -> dict[str, dict[str, Any]]:
    """Every configured queue, even idle; then anything else that holds jobs or is paused.

    A queue whose keys do not read has no counts (null) and says why under `broken`.
    `oldest_ready_age` is how long (seconds) its longest-waiting ready job has been due,
    null when none is ready. `paused` is null, or who paused the queue, when and why.
    """
    queues = doc.queues if doc is not None else {}
    crons = {name for name, c in doc.crons.items() if "handler" in c} if doc is not None else set()
    names = [*sorted(queues), *sorted((set(stats) | set(paused)) - set(queues))]
    found = {}
    for name in names:
        kind = "queue" if name in queues else "cron" if name in crons else "other"
        counts = stats.get(name)
        broken = counts.broken if counts is not None else ""
        found[name] = {
            "kind": kind,
            **{c: None if broken else getattr(counts, c, 0) for c in COUNTS},
            "oldest_ready_age": _age(counts, now),
            "paused": paused[name].as_dict() if name in paused else None,
        }
        if broken:
            found[name]["broken"] = broken
        if counts is not None and counts.set_aside:
            found[name]["set_aside"] = counts.set_aside
    return found


def _age(counts: QueueStats | None, now: float) -> float | None:
    since = counts.oldest_ready if counts is not None else None
    return None if since is None else round(max(0.0, now - since), 3)


def _crons(
    storage: Storage, doc: Published | None, now: float, damage: list[dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """Every published cron entry, with what its recorded state says it last did."""
    found = {}
    for name, entry in sorted(doc.crons.items() if doc is not None else ()):
        data = _value(
            functools.partial(storage.get_value, records.cron_key(name)),
            f"the state of cron entry {name}",
            damage,
        )
        state = records.CronState.from_dict(data) if data is not None else records.CronState()
        job = state.job
        record = storage.record(job) if job else None
        suspended = bool(entry.get("suspend"))
        upcoming = None if suspended else _next(entry, now)
        found[name] = {
            "explain": entry.get("explain"),
            "target": {k: entry[k] for k in ("queue", "handler") if k in entry},
            "source": entry.get("source"),
            "suspended": suspended,
            "last": state.last,
            "job": job,
            "job_state": record.state.value if record is not None else None,
            "manual": job is not None and state.manual == job,
            "next": upcoming,
            "skipped": state.skipped,
            "last_skip": state.last_skip,
            "missed": state.missed,
        }
    return found


def _next(entry: Entry, now: float) -> float | None:
    """The entry's next tick after `now` (epoch seconds), from its published schedule fields."""
    times = upcoming(entry, now, 1)
    return times[0].timestamp() if times else None


def upcoming(entry: Entry, now: float, count: int) -> list[datetime]:
    """The entry's next `count` ticks after `now`, in its own time zone (UTC unless its
    schedule names one); none for a schedule written by another version."""
    from zoneinfo import ZoneInfo

    from jobrunner.values import duration, schedule

    when: schedule.Schedule
    try:
        zone = ZoneInfo(entry.get("timezone") or "UTC")
        if "schedule" in entry:
            when = schedule.Cron(entry["schedule"], entry.get("timezone") or "UTC")
        elif "every" in entry:
            when = schedule.Every(duration.parse(entry["every"]))
        else:
            when = schedule.At(schedule.parse_at(entry["at"]))
        times = schedule.upcoming(when, datetime.fromtimestamp(now, UTC), count)
    except (KeyError, ValueError, TypeError, LookupError):  # written by another version
        return []
    return [t.astimezone(zone) for t in times]
