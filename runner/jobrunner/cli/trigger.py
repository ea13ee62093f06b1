"""`jobrunner trigger`: run a cron entry now, from any host that reaches the storage."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from jobrunner.cli.jobs import storage_errors
from jobrunner.cli.options import open_or_exit, storage_url


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
    from jobrunner.scheduler.manual import TriggerError, trigger_now  # the loader: 0.14 s

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
