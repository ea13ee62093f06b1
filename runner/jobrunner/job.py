"""Jobs as they travel and as they are remembered.

`Job` is the message: only what identifies the work (never handler params or
secrets; those are looked up in the configuration in force when it runs).
It is encoded as JSON, never pickle, so whoever can write to the storage
cannot run code in a worker. `Record` is what the storage remembers of a job
for `jobrunner jobs show` and the dead-letter queue.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

PRIORITY_RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
DEAD_LETTER_RETAIN = timedelta(days=14)  # how long dead jobs are kept, unless a queue says
MAX_DELIVERIES = 5  # lease expiries before a job is dead-lettered, unless a queue says
MAX_PAYLOAD = 1024 * 1024  # bytes of JSON in one job's payload, unless a queue's max_payload says
PAYLOAD_CEILING = 16 * 1024 * 1024  # the largest max_payload a queue may set


class State(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time (a delay, or a retry's backoff)
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    DEAD = "dead"
    CANCELLED = "cancelled"  # cancelled by an operator: ended, not dead, never retried


FINISHED = frozenset({State.SUCCEEDED, State.DEAD, State.CANCELLED})  # ended for good


def new_id() -> str:
    """A sortable, unique job id: milliseconds since the epoch, then randomness."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def new_trace_id() -> str:
    """A W3C trace id: 32 hex digits, unique, not secret (OpenTelemetry's generator also
    uses `random`, seeded anew in each forked process), without a system call per job."""
    return f"{random.getrandbits(128):032x}"


@dataclass(frozen=True, slots=True)
class Job:
    """The message a worker receives."""

    id: str
    queue: str  # a queue name, or the name of a cron entry that runs its own handler
    payload: Any
    attempt: int = 1
    priority: int = PRIORITY_RANK["normal"]
    created: float = 0.0  # epoch seconds of the first enqueue
    idempotency_key: str | None = None
    trace_id: str = ""
    cron: str | None = None  # the cron entry that fired it
    tick: float | None = None  # the tick time it fired for

    def encode(self) -> bytes:
        return _COMPACT.encode(self.fields()).encode()

    def fields(self) -> dict[str, Any]:
        """Its fields, by name, in order; the payload as it is (not copied: JSON reads it)."""
        return {name: getattr(self, name) for name in JOB_FIELDS}

    def next_attempt(self) -> Job:
        return replace(self, attempt=self.attempt + 1)


class Unreadable(ValueError):
    """A stored message that is not a job: garbage bytes, or the wrong shape."""


def decode(raw: bytes | str) -> Job:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        job = Job(**data)
    except (ValueError, TypeError) as exc:
        raise Unreadable(f"unreadable message: {exc}") from None
    if (
        not isinstance(job.id, str)
        or not isinstance(job.queue, str)
        or not isinstance(job.attempt, int)
    ):
        raise Unreadable("unreadable message: id, queue or attempt of the wrong type")
    return job


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a job."""

    number: int
    started: float
    ended: float
    outcome: str  # succeeded|failed|timeout|permanent|lost|interrupted|cancelled
    daemon: str = ""
    error_type: str = ""
    error: str = ""
    traceback: str = ""

    @property
    def duration(self) -> float:
        return self.ended - self.started


JOB_FIELDS = tuple(f.name for f in fields(Job))
ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


@dataclass(frozen=True, slots=True)
class Record:
    """What the storage remembers of a job."""

    job: Job
    state: State
    attempts: tuple[Attempt, ...] = ()
    result: Any = None
    reason: str = ""  # why it is dead, or why it waits
    updated: float = 0.0
    run_at: float | None = None  # when a scheduled job becomes due
    deliveries: int = 0  # leases that expired without an answer
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        # By hand, not dataclasses.asdict: that deep-copies payload and result first, a
        # third of the daemon's time per job at thousands a second. The JSON is the same.
        data = {
            "job": self.job.fields(),
            "state": self.state.value,
            "attempts": [{n: getattr(a, n) for n in ATTEMPT_FIELDS} for a in self.attempts],
            "result": self.result,
            "reason": self.reason,
            "updated": self.updated,
            "run_at": self.run_at,
            "deliveries": self.deliveries,
            "extra": self.extra,
        }
        return _RECORD.encode(data)


def _plain(value: Any) -> Any:
    """What JSON makes of a value it has no rule for: a dataclass as its fields (as asdict
    did), anything else as its text."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


# Made once: `json.dumps` with any option builds an encoder per call, a third of what
# encoding a small record costs.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_RECORD = json.JSONEncoder(separators=(",", ":"), default=_plain)


def decode_record(raw: bytes | str) -> Record:
    """A stored record; `Unreadable` when the bytes are not one (garbage, a wrong shape)."""
    try:
        data = json.loads(raw)
        return Record(
            job=Job(**data["job"]),
            state=State(data["state"]),
            attempts=tuple(Attempt(**a) for a in data.get("attempts", ())),
            result=data.get("result"),
            reason=data.get("reason", ""),
            updated=float(data.get("updated", 0.0)),
            run_at=data.get("run_at"),
            deliveries=int(data.get("deliveries", 0)),
            extra=dict(data.get("extra", {})),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Unreadable(f"unreadable record: {type(exc).__name__}: {exc}") from None


def unreadable_record(job_id: str, queue: str, raw: bytes | str | None, why: str) -> Record:
    """What to show for a record that cannot be read: its raw text and the reason, as dead."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    job = Job(id=job_id, queue=queue, payload=text[:2000])
    return Record(job, State.DEAD, reason=why)
