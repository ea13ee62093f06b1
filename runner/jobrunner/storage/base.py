"""The storage protocol every backend implements.

Times given to the storage are relative (`delay`, `lease_for`) wherever the
storage's own clock decides, so that hosts with skewed clocks agree (Redis
uses its `TIME`); absolute times (`at`) are UTC epoch seconds.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from jobrunner.job import (
    DEAD_LETTER_RETAIN,
    MAX_DELIVERIES,
    Attempt,
    Job,
    Record,
    State,
)
from jobrunner.storage.search import Page, Query
from jobrunner.storage.stored import is_time

PAUSE_TEXT = 1000  # characters of a pause's `by` and `reason` kept when it is read
PAUSE_BYTES = 64 * 1024  # a stored pause longer than this is garbage, not read


class StorageError(Exception):
    """The storage cannot be reached or used; the message says why."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One delivery of one job to one daemon, until acknowledged or expired."""

    token: str  # identifies this delivery; a stale token acknowledges nothing
    job_id: str
    queue: str
    raw: bytes  # the stored message, decoded by the worker (it may be garbage)
    deliveries: int  # earlier deliveries whose lease expired
    refused: str = ""  # why the message may not run (not signed with a key in use), if so
    history: bool = True  # its record may hold earlier attempts (False: a fresh job)


@dataclass(frozen=True, slots=True)
class Found:
    """What one lease of one queue found (`lease_many`)."""

    leases: list[Lease]
    # When to ask this queue again without a wake signal: 0.0 when more jobs may be ready
    # now (it gave all it was asked for), else seconds until its first scheduled job is
    # due; None when nothing else waits in it (or it is paused: its resume wakes waiters).
    due_in: float | None


@dataclass(frozen=True, slots=True)
class Done:
    """One attempt to acknowledge in a batch (`ack_many`): as `ack(lease, record, keep_for)`."""

    lease: Lease
    record: Record
    keep_for: float


@dataclass(frozen=True, slots=True)
class QueueStats:
    ready: int = 0  # due, waiting for a worker
    scheduled: int = 0  # waiting for their time (delays, retry backoff)
    running: int = 0  # leased to a daemon
    dead: int = 0  # in the dead-letter queue
    broken: str = ""  # why the queue's keys cannot be read (a stray writer's), if so
    set_aside: int = 0  # stray keys of the queue set aside, kept for inspection
    # Since when (epoch seconds) the longest-waiting ready job has been due: its enqueue,
    # its delay's end or its retry's backoff end. None when nothing is ready. On Redis it is
    # read from the first jobs in line at each priority (stats.lua), not from every job.
    oldest_ready: float | None = None


HISTORY_KEEP = 24 * 3600  # seconds of per-minute outcome counts kept, for the charts
OUTCOMES = ("succeeded", "retried", "dead", "cancelled", "lost")  # what `history` counts


class Tally(NamedTuple):
    """How many attempts of a queue ended one way in one minute."""

    queue: str
    minute: int  # epoch seconds of the minute's start
    outcome: str  # one of OUTCOMES
    attempts: int


class Reclaimed(NamedTuple):
    """A job whose lease expired, handed back for another delivery or buried."""

    job_id: str
    queue: str
    buried: bool  # past max_deliveries: dead-lettered, not delivered again


@dataclass(frozen=True, slots=True)
class Redelivery:
    """A queue's policy for jobs whose lease expired."""

    max_deliveries: int = MAX_DELIVERIES
    dead_retain: float = DEAD_LETTER_RETAIN.total_seconds()


@dataclass(frozen=True, slots=True)
class Pause:
    """A paused queue: no daemon leases its jobs until it is resumed; enqueues still work."""

    queue: str
    since: float | None = None  # epoch seconds; None when the stored time does not read
    by: str = ""  # who paused it (user@host for the CLI)
    reason: str = ""
    unreadable: str = ""  # why the stored pause does not read (a stray writer's): still paused

    def encode(self) -> str:
        return json.dumps({"since": self.since, "by": self.by, "reason": self.reason})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: `since`, `by`, `reason`; `unreadable` too when the stored one is not."""
        found: dict[str, Any] = {"since": self.since, "by": self.by, "reason": self.reason}
        if self.unreadable:
            found["unreadable"] = self.unreadable
        return found


class Cancel(StrEnum):
    """What `cancel` did to a job."""

    CANCELLED = "cancelled"  # it waited: taken out of its queue, its record now cancelled
    REQUESTED = "requested"  # it runs: marked, and the daemon holding it stops it within a second
    FINISHED = "finished"  # it had ended already (succeeded, dead or cancelled): nothing to do
    UNKNOWN = "unknown"  # no such job (or its record expired)


CANCEL_REASON = "cancelled by an operator"


def cancelled(record: Record, now: float) -> Record:
    """`record` of a job that waited, cancelled before it ran again (history kept)."""
    return replace(record, state=State.CANCELLED, reason=CANCEL_REASON, updated=now, run_at=None)


def decode_pause(queue: str, raw: bytes) -> Pause:
    """The pause stored for `queue`. Whatever is stored there pauses the queue (so a pause
    is never lost to its format); what does not read is kept as `unreadable`, saying why."""
    if len(raw) > PAUSE_BYTES:
        return Pause(queue, unreadable=f"{len(raw):,} bytes, more than a pause ever takes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return Pause(queue, unreadable=f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Pause(queue, unreadable=f"JSON {type(data).__name__}, not an object")
    since, by, reason = data.get("since"), data.get("by", ""), data.get("reason", "")
    fields = (("since", since is None or is_time(since)), ("by", isinstance(by, str)))
    wrong = [name for name, ok in (*fields, ("reason", isinstance(reason, str))) if not ok]
    return Pause(
        queue,
        since if is_time(since) else None,
        by[:PAUSE_TEXT] if isinstance(by, str) else "",
        reason[:PAUSE_TEXT] if isinstance(reason, str) else "",
        f"{', '.join(wrong)} of the wrong type" if wrong else "",
    )


def lost(record: Record, owner: str, now: float) -> Record:
    """`record` with a `lost` attempt: its worker stopped answering (died or hung)."""
    attempt = Attempt(
        number=record.job.attempt,
        started=record.updated,
        ended=now,
        outcome="lost",
        daemon=owner,
        error_type="LeaseExpired",
        error=f"daemon {owner} stopped renewing the lease (killed, crashed or hung)",
    )
    return replace(
        record, attempts=(*record.attempts, attempt), updated=now, deliveries=record.deliveries + 1
    )


def buried_lost(record: Record, deliveries: int, owner: str) -> Record:
    reason = (
        f"delivered {deliveries} times without finishing (last to daemon {owner}): "
        "the worker died or hung each time (max_deliveries)"
    )
    return replace(record, state=State.DEAD, reason=reason)


class Storage(Protocol):
    url: str  # with any password redacted

    # -- producers ---------------------------------------------------------
    def enqueue(
        self,
        job: Job,
        *,
        delay: float = 0.0,
        at: float | None = None,
        idempotency_ttl: float | None = None,
    ) -> str:
        """Store `job`; with an idempotency key seen within its ttl, return that job's id.
        A job whose id waits or runs already is left alone (a retry after a lost reply)."""
        ...

    def enqueue_many(
        self,
        jobs: Sequence[Job],
        *,
        delay: float = 0.0,
        at: float | None = None,
        idempotency_ttl: float | None = None,
    ) -> list[str]:
        """`enqueue` each of `jobs` (of any queues), in a few round trips; the ids in order,
        an idempotent job answering the earlier job's id.

        Each job is stored atomically on its own, not the batch as a whole: a failure
        midway (StorageError: the storage went away, a queue is broken) may leave some
        stored. The caller retries the same jobs (same ids): those stored already are
        left alone, so nothing runs twice.
        """
        ...

    # -- workers -----------------------------------------------------------
    def lease(self, queue: str, owner: str, *, count: int, lease_for: float) -> list[Lease]:
        """Up to `count` due jobs of `queue`, highest priority first, leased to `owner`;
        none while `queue` is paused (checked in the same atomic step)."""
        ...

    def lease_many(
        self, wants: Mapping[str, int], owner: str, *, lease_for: float
    ) -> dict[str, Found]:
        """For each queue of `wants`, up to that many due jobs leased to `owner`, as `lease`
        does (each queue its own atomic step), in one round trip, with when to ask again."""
        ...

    def holding(self, queues: Collection[str]) -> set[str]:
        """The queues of `queues` that hold a job to lease now: one ready, or a scheduled one
        that is due (paused or not). A read, a round trip for them all where the storage
        can: the daemon's check for jobs that came without a wake signal. May name a queue
        that has nothing to lease (a key of the wrong type counts as holding one, so that
        leasing finds it and says so)."""
        ...

    def wake(self) -> None:
        """Release every thread blocked in `woken` (used at shutdown)."""
        ...

    def moment(self) -> int:
        """Where the wake signals stand now: take it before looking for jobs, then ask
        `woken` from it, so that no signal between the look and the wait is missed."""
        ...

    def woken(self, since: int, queues: Collection[str], timeout: float) -> tuple[int, set[str]]:
        """The queues of `queues` that may have a job due, or a new first scheduled job,
        since `moment` gave `since`, waiting up to `timeout` for one (`wake()` ends the
        wait; none on timeout), and the moment the answer goes up to (to ask from next).
        May name a queue that has nothing (Redis names every queue after it subscribes
        again, when signals may have been missed)."""
        ...

    def extend(self, owner: str, lease_for: float, held: Collection[Lease] | None = None) -> int:
        """Heartbeat: push back the expiry of the leases `owner` holds, and still holds by
        their token: those of `held` when given (what the daemon knows it holds), else all of
        them; how many. A lease `owner` got but does not know of (its reply lost, or undone
        and redone by a failover) is then left to expire, and its job runs again."""
        ...

    def ack(self, lease: Lease, record: Record, keep_for: float) -> bool:
        """The attempt ended for good (succeeded); keep its record for `keep_for` seconds.

        False when the lease was no longer held (it expired and was re-delivered).
        """
        ...

    def ack_many(self, done: Sequence[Done]) -> list[bool]:
        """`ack` for each of `done`, in one round trip; each is its own atomic step, fenced
        by its own token, and its answer is in the same place of the list returned."""
        ...

    def retry(self, lease: Lease, job: Job, delay: float, record: Record) -> bool:
        """Atomically acknowledge this delivery and store `job` (the next attempt) after `delay`."""
        ...

    def bury(self, lease: Lease | None, record: Record, keep_for: float) -> bool:
        """Move a job into the dead-letter queue, kept for `keep_for` seconds."""
        ...

    def release(self, owner: str) -> int:
        """Give back every job `owner` holds at once (clean shutdown); how many."""
        ...

    def reclaim(self, policies: Mapping[str, Redelivery], default: Redelivery) -> list[Reclaimed]:
        """Return expired leases to their queue; bury jobs past their queue's max_deliveries.

        Each expiry is recorded in the job's history as a `lost` attempt.
        """
        ...

    # -- pausing -------------------------------------------------------------
    def pause(self, pause: Pause) -> None:
        """Pause `pause.queue` (again: its who, when and why replaced): from now on `lease`
        hands out none of its jobs, in every process on this storage, until `resume`."""
        ...

    def resume(self, queue: str) -> bool:
        """Lift the pause of `queue` and wake the workers waiting on it; False if not paused."""
        ...

    def paused(self) -> dict[str, Pause]:
        """The paused queues, by name. Garbage where a pause is kept still pauses its queue,
        and reads as a `Pause` saying why under `unreadable`."""
        ...

    # -- cancelling ----------------------------------------------------------
    def cancel(self, job_id: str, keep_for: float) -> Cancel:
        """Cancel a job. One that waits (queued, scheduled, retrying) leaves its queue and
        its record becomes CANCELLED, kept for `keep_for` seconds, in one atomic step; one
        leased to a daemon is marked (`cancel_requested` reads the mark) and the daemon
        ends it; one that ended already is left as it is."""
        ...

    def cancel_requested(self, leases: Sequence[Lease]) -> set[str]:
        """The ids of the jobs of `leases` whose cancel was requested: one read for all."""
        ...

    # -- rate limits -------------------------------------------------------
    def take(self, queue: str, count: int, period: float) -> float:
        """Take one start from `queue`'s sliding window of `count` per `period` seconds.

        0.0 when taken; otherwise how many seconds to wait before asking again.
        """
        ...

    # -- inspection ----------------------------------------------------------
    def record(self, job_id: str) -> Record | None: ...

    def dead(self, queue: str | None = None, limit: int = 100) -> list[Record]: ...

    def jobs(self, query: Query) -> Page:
        """A page of the jobs `query` asks for, newest first by creation time (`Job.created`),
        examining at most `search.BUDGET` stored entries: a page may come back short, even
        empty, with a cursor to go on (storage/search.py). ValueError for a bad cursor."""
        ...

    def replay(self, job_id: str) -> bool:
        """Put a dead or cancelled job back in its queue as a fresh first attempt (history
        kept); False when it is neither (or does not read)."""
        ...

    def purge(self, queue: str | None = None, job_id: str | None = None) -> int:
        """Delete dead jobs; how many."""
        ...

    def stats(self) -> dict[str, QueueStats]: ...

    def queue_names(self) -> list[str]:
        """Every queue that holds or held jobs here (configured or not), cheaply: no counts."""
        ...

    def history(self, queue: str | None, since: float) -> list[Tally]:
        """Per-minute counts of the attempts settled in `queue` (None: every queue) from the
        minute holding `since` on: succeeded or cancelled (ack), retried, dead (bury, or
        past max_deliveries), lost (a lease expired, delivered again). Counted in the same
        step as the settlement, kept HISTORY_KEEP; a stray key where they belong costs the
        counts, never a settlement."""
        ...

    # -- configuration and daemons -------------------------------------------
    def publish(self, document: Mapping[str, Any]) -> None:
        """Store the configuration the daemons run (no secrets), for producers and `status`."""
        ...

    def published(self) -> dict[str, Any] | None: ...

    def claim(self, key: str, ttl: float) -> bool:
        """True for the first caller to claim `key` within `ttl` seconds, False for the rest."""
        ...

    def get_value(self, key: str) -> Any:
        """A small JSON value kept by the daemons (cron state, last good files); None if unset."""
        ...

    def set_value(self, key: str, value: Any) -> None: ...

    def beat(self, daemon: str, info: Mapping[str, Any], ttl: float) -> None:
        """A daemon says it is alive, for `ttl` seconds."""
        ...

    def leave(self, daemon: str) -> None: ...

    def daemons(self) -> list[dict[str, Any]]: ...

    def expire(self) -> int:
        """Forget records, dead jobs and idempotency keys past their time; how many."""
        ...

    def close(self) -> None: ...
