"""A manual run of a cron entry (`jobrunner trigger`, the API's trigger route): the job its
next tick would enqueue, now, recorded as the entry's latest run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from jobrunner.job import PRIORITY_RANK
from jobrunner.scheduler.loop import ACTIVE, CLAIM_TTL, run_of
from jobrunner.storage import Storage, records
from jobrunner.values import suggest


class TriggerError(LookupError):
    """The entry cannot be triggered: nothing published, or no such entry."""


@dataclass(frozen=True, slots=True)
class Triggered:
    job_id: str
    queue: str
    suspended: bool
    previous: str | None  # the entry's previous run, when it is still queued or running


def trigger_now(storage: Storage, name: str, now: datetime) -> Triggered:
    """Enqueue a manual run of cron entry `name`, as its next tick would, and record it.

    The entry comes from the published configuration, so no job files are
    needed here. The run is recorded as the entry's latest job, so an entry
    with `overlap: forbid` skips its ticks while the run is queued or running.
    """
    doc = records.read_published(storage)
    if doc is None:
        raise TriggerError(
            f"no daemon has published a configuration to {storage.url} yet: "
            "start `jobrunner run` once (with the same --storage)"
        )
    crons = doc.crons
    if name not in crons:
        known = ", ".join(sorted(crons)) or "none"
        raise TriggerError(
            f"unknown cron entry '{name}'{suggest.did_you_mean(name, crons)}: the configuration "
            f"in force (generation {doc.generation}) has cron entries: {known}"
        )
    entry = crons[name]
    priority = entry.get("priority")
    job = run_of(
        name,
        entry.get("queue"),
        entry.get("payload", {}),
        priority if priority in PRIORITY_RANK else "normal",
        now,
        now.timestamp(),
        manual=True,
    )
    state = records.read_cron(storage, name)
    record = storage.record(state.job) if state.job else None
    previous = state.job if record is not None and record.state in ACTIVE else None
    job_id = storage.enqueue(job, idempotency_ttl=CLAIM_TTL)
    ran = replace(state, job=job_id, manual=job_id, triggered=now.timestamp())
    records.write_cron(storage, name, ran)
    return Triggered(job_id, job.queue, bool(entry.get("suspend")), previous)
