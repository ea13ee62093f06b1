"""What a client reads back: a job (`JobInfo`) and a page of a job search (`JobPage`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jobrunner.job import FINISHED, PRIORITY_RANK, Attempt, Record, State

_PRIORITY_NAME = {rank: name for name, rank in PRIORITY_RANK.items()}


@dataclass(frozen=True, slots=True)
class JobInfo:
    """What is known of one job. Times are epoch seconds (UTC)."""

    id: str
    queue: str
    state: State  # scheduled, queued, running, succeeded, retrying, dead or cancelled
    payload: Any
    priority: str  # critical, high, normal or low
    attempts: tuple[Attempt, ...]  # each try: outcome, duration, error type, message, traceback
    result: Any  # what the handler returned, once it succeeded
    reason: str  # why it is dead, or why it waits
    created: float  # first enqueue
    updated: float  # last change of state
    run_at: float | None  # when a scheduled job becomes due
    idempotency_key: str | None
    trace_id: str
    cron: str | None = None  # the cron entry that fired it, if any
    extra: Mapping[str, Any] = field(default_factory=dict)  # provenance the daemon recorded

    @classmethod
    def from_record(cls, record: Record) -> JobInfo:
        job = record.job
        return cls(
            id=job.id,
            queue=job.queue,
            state=record.state,
            payload=job.payload,
            priority=_PRIORITY_NAME.get(job.priority, str(job.priority)),
            attempts=record.attempts,
            result=record.result,
            reason=record.reason,
            created=job.created,
            updated=record.updated,
            run_at=record.run_at,
            idempotency_key=job.idempotency_key,
            trace_id=job.trace_id,
            cron=job.cron,
            extra=dict(record.extra),
        )

    @property
    def done(self) -> bool:
        """True once the job succeeded, went to the dead-letter queue or was cancelled."""
        return self.state in FINISHED

    @property
    def error(self) -> str | None:
        """`Type: message` of the last failed attempt, if any."""
        failed = [a for a in self.attempts if a.outcome != "succeeded"]
        if not failed:
            return None
        last = failed[-1]
        return f"{last.error_type}: {last.error}" if last.error_type else last.error

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `jobrunner jobs show --json` prints)."""
        data = asdict(self)
        data["state"] = self.state.value
        data["attempts"] = [{**asdict(a), "duration": a.duration} for a in self.attempts]
        data["extra"] = dict(self.extra)
        return data


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a job search (`Client.jobs`), newest first."""

    jobs: tuple[JobInfo, ...]
    next: str | None  # the `cursor` of the next page; None when nothing is left
    examined: int  # stored entries read for this page (at most search.BUDGET)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `GET /api/v1/jobs` answers and `jobs list --json` prints)."""
        jobs = [info.as_dict() for info in self.jobs]
        return {"jobs": jobs, "next": self.next, "examined": self.examined}
