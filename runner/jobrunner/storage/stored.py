"""What is read back from a storage, checked field by field: whoever can write to it may
have left anything there, so a record or a message is trusted only once every field has
the type a `Record` or a `Job` promises, and a time only once it is a finite number in
range. Both backends and everything that shows their figures read through these."""

from __future__ import annotations

from typing import TypeGuard

from jobrunner.job import Attempt, Job, Record, Unreadable, decode_record

EPOCH_LIMIT = 1e11  # seconds: a stored time beyond this (year 5138) is garbage, not a time


def decode_stored(raw: bytes | str) -> Record:
    """A stored record whose every field has the type a Record promises.

    `Unreadable` saying which field does not, for bytes a stray writer left: JSON of the
    right shape with a text where a time belongs, NaN, a list of attempts that are not
    attempts. What reads it (the worker, `jobs show`, `dlq list`) can then trust it.
    """
    record = decode_record(raw)
    job = record.job
    wrong = [
        *(f"job.{name}" for name in job_problems(job)),
        *(
            name
            for name, ok in (
                ("reason", isinstance(record.reason, str)),
                ("updated", is_time(record.updated)),
                ("run_at", record.run_at is None or is_time(record.run_at)),
                ("deliveries", _whole(record.deliveries)),
                ("attempts", all(map(_attempt, record.attempts))),
            )
            if not ok
        ),
    ]
    if wrong:
        raise Unreadable(f"unreadable record: {', '.join(wrong)} of the wrong type or out of range")
    return record


def job_problems(job: Job) -> list[str]:
    """The fields of a decoded message that do not have the type a Job promises."""
    return [
        name
        for name, ok in (
            ("id", isinstance(job.id, str)),
            ("queue", isinstance(job.queue, str)),
            ("attempt", _whole(job.attempt)),
            ("priority", _whole(job.priority)),
            ("created", is_time(job.created)),
            (
                "idempotency_key",
                job.idempotency_key is None or isinstance(job.idempotency_key, str),
            ),
            ("trace_id", isinstance(job.trace_id, str)),
            ("cron", job.cron is None or isinstance(job.cron, str)),
            ("tick", job.tick is None or is_time(job.tick)),
        )
        if not ok
    ]


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53


def is_time(value: object) -> TypeGuard[float]:
    """A number that can be a time in epoch seconds (or a span of them): finite, in range."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -EPOCH_LIMIT < value < EPOCH_LIMIT  # NaN fails both
    )


def _attempt(attempt: Attempt) -> bool:
    texts = (attempt.outcome, attempt.daemon, attempt.error_type, attempt.error, attempt.traceback)
    return (
        _whole(attempt.number)
        and is_time(attempt.started)
        and is_time(attempt.ended)
        and all(isinstance(t, str) for t in texts)
    )
