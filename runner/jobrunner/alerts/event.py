"""What happened, as the alerts see it: one `Event` per occurrence. Pure.

An event's `identity` names the occurrence, not its observer: every daemon
that sees the same dead job, missed tick, refused change or lost daemon
builds the same identity, so that it is delivered once (alerts/deliver.py).
Its `subject` is what it is about (a queue, a cron entry, a daemon, the jobs
directory): throttling counts per event kind and subject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobrunner.config.alerts import (
    DAEMON_LOST,
    JOB_DEAD,
    QUEUE_BACKLOG,
    RELOAD_REFUSED,
    TICK_MISSED,
    TICK_SKIPPED,
)
from jobrunner.config.model import EMPTY
from jobrunner.job import Record
from jobrunner.problem import Problem, Severity

MAX_ERROR = 500  # characters of a job's error kept in an alert
MAX_PROBLEMS = 20  # problems of a refused reload listed in an alert
JOBS_DIR = "jobs.d"  # the subject of reload.refused: there is one jobs directory

# Why a job is dead, as `job.dead` says it (`details.cause`).
RETRIES, PERMANENT, MAX_DELIVERIES = "retries", "permanent", "max_deliveries"
QUEUE_REMOVED, UNREADABLE = "queue_removed", "unreadable"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # a name of config/alerts.py's EVENTS
    subject: str
    identity: str  # the same for every observer of this occurrence
    at: float  # epoch seconds it happened (or was seen)
    summary: str  # one line for humans
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    queue: str | None = None  # the queue it is about, if any (`queues:` filters, the loop guard)


def job_dead(record: Record, cause: str, at: float) -> Event:
    """A job went to the dead-letter queue, for `cause` (RETRIES, PERMANENT, …)."""
    job = record.job
    last = record.attempts[-1] if record.attempts else None
    error_type = last.error_type if last else ""
    error = (last.error if last else record.reason)[:MAX_ERROR]
    tried = len([a for a in record.attempts if a.outcome != "interrupted"])
    return Event(
        JOB_DEAD,
        job.queue,
        f"{JOB_DEAD}:{job.id}:{job.attempt}",
        at,
        f"job {job.id} of queue {job.queue} is dead after {tried} attempt"
        f"{'s' if tried != 1 else ''} ({cause}): {error_type or 'error'}: {error}".rstrip(": "),
        {
            "queue": job.queue,
            "job": job.id,
            "cause": cause,
            "attempts": tried,
            "error_type": error_type,
            "error": error,
            "reason": record.reason[:MAX_ERROR],
            "cron": job.cron,
            "trace": job.trace_id,
        },
        queue=job.queue,
    )


def tick_missed(cron: str, first: datetime | None, missed: int, at: float, reason: str) -> Event:
    """`missed` ticks of `cron`, the first at `first`, passed without running."""
    when = first.isoformat() if first else None
    return Event(
        TICK_MISSED,
        cron,
        f"{TICK_MISSED}:{cron}:{first.timestamp() if first else at:.3f}",
        at,
        f"cron {cron}: {missed} tick{'s' if missed != 1 else ''} missed"
        + (f" from {when}" if when else "")
        + f": {reason}",
        {"cron": cron, "tick": when, "missed": missed, "reason": reason},
    )


def tick_skipped(cron: str, tick: datetime, previous: str | None, at: float) -> Event:
    """The tick of `cron` at `tick` was skipped: its previous run `previous` still ran."""
    reason = "the previous run is still queued or running (overlap: forbid)"
    return Event(
        TICK_SKIPPED,
        cron,
        f"{TICK_SKIPPED}:{cron}:{tick.timestamp():.3f}",
        at,
        f"cron {cron}: tick {tick.isoformat()} skipped: {reason}",
        {"cron": cron, "tick": tick.isoformat(), "previous": previous, "reason": reason},
    )


def reload_refused(
    texts: Mapping[str, bytes | str],
    problems: Sequence[Problem],
    at: float,
    *,
    refused: bool,
    quarantined: Sequence[str] = (),
    left_out: Sequence[str] = (),
) -> Event:
    """Job files `texts` (as on disk) failed with `problems`: the whole change `refused`,
    or some files `quarantined` (their last good version stays) or `left_out`."""
    failed = sorted({p.file for p in problems} | set(quarantined) | set(left_out))
    errors = [p for p in problems if p.severity is Severity.ERROR]
    listed = [f"{p.file}:{p.line}:{p.column}: {p.message}" for p in errors[:MAX_PROBLEMS]]
    what = "change refused" if refused else "files kept at their last good version"
    return Event(
        RELOAD_REFUSED,
        JOBS_DIR,
        f"{RELOAD_REFUSED}:{_digest(texts)}",
        at,
        f"reload: {what}: {len(errors)} error{'s' if len(errors) != 1 else ''} in "
        f"{', '.join(failed)}" + (f"; first: {listed[0]}" if listed else ""),
        {
            "refused": refused,
            "files": failed,
            "quarantined": list(quarantined),
            "left_out": list(left_out),
            "problems": listed,
            "more": max(0, len(errors) - len(listed)),
        },
    )


def daemon_lost(daemon: str, info: Mapping[str, Any], at: float) -> Event:
    """Daemon `daemon` stopped beating without leaving; `info` is its last heartbeat."""
    seen = info.get("seen")
    return Event(
        DAEMON_LOST,
        daemon,
        f"{DAEMON_LOST}:{daemon}",
        at,
        f"daemon {daemon} is lost: its heartbeat expired without it leaving",
        {
            "daemon": daemon,
            "host": info.get("host"),
            "pid": info.get("pid"),
            "role": info.get("role"),
            "last_seen": seen if isinstance(seen, int | float) else None,
        },
    )


def queue_backlog(queue: str, oldest_ready: float, ready: int, at: float) -> Event:
    """Queue `queue` has `ready` jobs due, the oldest due since `oldest_ready`.

    The identity names the oldest job's due time: the same backlog, seen by any
    daemon, is one occurrence; when that job leaves, the next oldest is another.
    """
    age = max(0.0, at - oldest_ready)
    return Event(
        QUEUE_BACKLOG,
        queue,
        f"{QUEUE_BACKLOG}:{queue}:{oldest_ready:.3f}",
        at,
        f"queue {queue}: {ready} ready job{'s' if ready != 1 else ''}, "
        f"the oldest waiting {age:.0f}s",
        {"queue": queue, "ready": ready, "oldest_ready": oldest_ready, "age": round(age, 3)},
        queue=queue,
    )


def _digest(texts: Mapping[str, bytes | str]) -> str:
    hashed = hashlib.sha256()
    for name in sorted(texts):
        text = texts[name]
        hashed.update(name.encode() + b"\0" + (text if isinstance(text, bytes) else text.encode()))
        hashed.update(b"\0")
    return hashed.hexdigest()[:16]
