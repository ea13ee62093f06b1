"""What the Redis scripts return and what job hashes hold, by name, and how to read it.

Scripts reply with flat lists (LEASE: five values a job, and when to ask again;
EXPIRED: Redis's time, then nine values a lease; JOBS: six values a job); HMGET returns
the record fields in RECORD_FIELDS order. The named tuples here give each position its
name, and `read_record` turns stored fields into a `Record`, showing a stray writer's
bytes as a dead record with the reason instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, TypeVar

from jobrunner.job import Record, State, Unreadable, decode, unreadable_record
from jobrunner.storage.redis.keys import encoded
from jobrunner.storage.signing import peek
from jobrunner.storage.stored import decode_stored, is_time, job_problems

T = TypeVar("T", bound=tuple[Any, ...])


class Stored(NamedTuple):
    """A job hash's record fields, in the order HMGET is asked for them (RECORD_FIELDS)."""

    rec: bytes | None  # the Record as JSON, once an attempt ended
    state: bytes | None
    updated: bytes | None
    run_at: bytes | None
    msg: bytes | None  # the message (a job still waiting for its first end has only this)


RECORD_FIELDS = Stored._fields


class Leased(NamedTuple):
    """One job of a LEASE reply (five values a job, then one more when it found fewer jobs
    than asked: see `lease_reply`)."""

    job_id: bytes
    n: int  # the delivery number: the lease token's second half
    raw: bytes
    deliveries: int | bytes  # earlier deliveries whose lease expired
    history: int  # 1 when the job has a record (an attempt ended, or it was replayed)


class Expired(NamedTuple):
    """One expired lease of an EXPIRED reply (which starts with Redis's time)."""

    job_id: bytes
    n: bytes
    owner: bytes
    dlv: bytes
    rec: bytes | None
    state: bytes | None
    updated: bytes | None
    run_at: bytes | None
    msg: bytes  # the message, or the member itself for a stray writer's bytes

    def stored(self) -> Stored:
        return Stored(self.rec, self.state, self.updated, self.run_at, self.msg)


class Listed(NamedTuple):
    """One job of a JOBS reply (six values): how its hash was found, then its fields."""

    how: bytes  # ok: a job hash; gone: no key (dropped from the listing); bad: another type
    rec: bytes | None  # for `bad`, the type the key holds
    state: bytes | None
    updated: bytes | None
    run_at: bytes | None
    msg: bytes | None

    def stored(self) -> Stored:
        return Stored(self.rec, self.state, self.updated, self.run_at, self.msg)


def groups(flat: Sequence[Any], shape: Callable[..., T], size: int) -> list[T]:
    """A flat script reply read as consecutive groups of `size` values."""
    return [shape(*chunk) for chunk in zip(*[iter(flat)] * size, strict=True)]


def lease_reply(flat: Sequence[Any]) -> tuple[list[Leased], float | None]:
    """The jobs a LEASE reply holds, and when to ask that queue again: 0.0 when it found as
    many as asked (more may be ready), else the seconds until its first scheduled job is due
    (the trailing value); None when none is scheduled, or when the queue is paused (an
    empty reply)."""
    size = len(Leased._fields)
    cut = len(flat) - len(flat) % size
    jobs = groups(flat[:cut], Leased, size)
    if not flat:
        return jobs, None
    if cut == len(flat):
        return jobs, 0.0
    due = flat[cut]
    return jobs, float(due) if due else None


def text(value: bytes | str) -> str:
    """Redis bytes as str; bytes that are not UTF-8 survive the round trip."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def record_fields(record: Record) -> list[bytes]:
    run_at = b"" if record.run_at is None else repr(record.run_at).encode()
    return [
        encoded(record.encode()),
        encoded(record.state.value),
        repr(record.updated).encode(),
        run_at,
    ]


def read_record(values: Stored, job_id: str, queue: str) -> Record | None:
    """A record from its stored fields; a job before its first attempt ends has only a message.

    Fields that do not read (a stray writer's bytes) give a dead record showing them.
    """
    try:
        return fields_record(values)
    except (Unreadable, ValueError) as exc:
        return unreadable_record(job_id, queue, values.rec or values.msg, str(exc))


def fields_record(values: Stored) -> Record | None:
    """The record stored fields give; `Unreadable` or ValueError when they do not read."""
    rec, state, updated, run_at, msg = values
    if rec:
        record = decode_stored(rec)
    elif msg:
        try:
            job = decode(peek(msg))
        except Unreadable:
            return None  # a stray writer's bytes: no record, as in SQLite
        if job_problems(job):
            return None  # the worker dead-letters it, with the reason, when it leases it
        record = Record(job, State.QUEUED)
    else:
        return None
    return replace(
        record,
        state=State(text(state)) if state else record.state,
        updated=when(updated) if updated else record.updated,
        run_at=record.run_at if run_at is None else when(run_at) if run_at else None,
    )


def when(value: bytes) -> float:
    """A time field; ValueError when it is not one (NaN, out of range, not a number)."""
    seconds = float(value)
    if not is_time(seconds):
        raise ValueError(f"not a time: {text(value)[:40]!r}")
    return seconds


def as_count(value: Any) -> int:
    """A counter field; a stray writer's bytes count as 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
