"""`jobrunner trigger`: run a cron entry now, from any host that reaches the storage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from jobrunner.cli.jobs import storage_errors
from jobrunner.cli.options import open_or_exit, storage_url

if TYPE_CHECKING:
    from jobrunner.storage import Storage


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
    from jobrunner.job import PRIORITY_RANK
    from jobrunner.scheduler.loop import ACTIVE, CLAIM_TTL, run_of
    from jobrunner.storage import records
    from jobrunner.values import suggest

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


@click.command()
@click.argument("name", metavar="CRON")
@storage_url
def trigger(name: str, storage: str) -> None:
    """Run cron entry CRON now, once, and print the new job's id.

    The entry is read from the configuration the daemons published to the
    storage, so this works from any host that reaches it, without the job
    files. The job is the one a tick would enqueue (same queue, payload and
    priority), with an idempotency key of its own, so it never takes the
    place of a scheduled tick. It counts as the entry's latest run: with
    overlap: forbid, ticks are skipped while it is queued or running. A
    suspended entry runs too (and says so). Exit status: 0 enqueued, 1
    unknown entry, nothing published or storage unreachable.

    \b
    Examples:
      jobrunner trigger nightly-report
      jobrunner trigger nightly-report --storage redis://jobs.internal:6379/0
      id=$(jobrunner trigger nightly-report) && jobrunner jobs show "$id"
    """
    store = open_or_exit(storage)
    try:
        with storage_errors():
            done = trigger_now(store, name, datetime.now(UTC))
    except TriggerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(done.job_id)
    if done.suspended:
        click.echo(f"note: cron {name} is suspended: ticks do not fire, this run does", err=True)
    if done.previous:
        click.echo(f"note: its previous run {done.previous} is still queued or running", err=True)
