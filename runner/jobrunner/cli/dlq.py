"""`jobrunner dlq list|show|replay|purge`: manage the dead-letter queue.

A job is dead when it used its last attempt, failed permanently, was
delivered to daemons that died `max_deliveries` times, or names a queue that
no longer exists. It is kept with its error history for its queue's
`dead_letter.retain`; nothing is dropped silently.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click

from jobrunner.cli.jobs import ago, connect, emit, storage_errors, table
from jobrunner.cli.options import moment_callback, storage_url
from jobrunner.cli.status import safe
from jobrunner.job import Record, State

if TYPE_CHECKING:  # the client is imported by the commands that talk to the storage
    from jobrunner.client import Client, JobInfo
    from jobrunner.storage import Storage
    from jobrunner.storage.deadletter import DeadFilter

REASON_WIDTH = 72

_json = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
_ids = click.argument("job_ids", nargs=-1, metavar="[ID]...")
_queue = click.option("--queue", metavar="QUEUE", help="Every dead job of this queue.")
_all = click.option("--all", "all_", is_flag=True, help="Every dead job of every queue.")


def _filters(command: Callable[..., None]) -> Callable[..., None]:
    """--error, --since and --until: which dead jobs, by what killed them and when."""
    for option in reversed(
        (
            click.option(
                "--error",
                metavar="TEXT",
                help="Only jobs whose reason, last error type or message contains TEXT (any case).",
            ),
            click.option(
                "--since",
                metavar="WHEN",
                callback=moment_callback,
                help="Only jobs that died at or after WHEN: 2h (ago) or 2026-12-06T09:30Z.",
            ),
            click.option(
                "--until",
                metavar="WHEN",
                callback=moment_callback,
                help="Only jobs that died before WHEN.",
            ),
        )
    ):
        command = option(command)
    return command


@click.group()
def dlq() -> None:
    """Dead jobs: list, show, replay or purge them.

    A job is dead when it used its last attempt, failed permanently, kept
    killing its workers (max_deliveries) or names a queue that no longer
    exists. It is kept with its errors for its queue's dead_letter.retain.

    \b
    The usual round:
      jobrunner dlq list                      # what died, and why
      jobrunner dlq show ID                   # every attempt, its error and traceback
      jobrunner dlq replay --queue QUEUE      # once the cause is fixed
      jobrunner dlq purge ID                  # what should never run again
    """


@dlq.command("list")
@click.option("--queue", metavar="QUEUE", help="Only this queue's dead jobs.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    metavar="N",
    help="Show at most N jobs.",
)
@_filters
@storage_url
@_json
def list_(
    queue: str | None,
    limit: int,
    error: str | None,
    since: float | None,
    until: float | None,
    storage: str,
    as_json: bool,
) -> None:
    """List dead jobs, oldest first: id, queue, attempts, when and why they died.

    --error, --since and --until pick the same jobs as they do for `replay`
    and `purge`: list first to see what those will act on.

    \b
    Examples:
      jobrunner dlq list
      jobrunner dlq list --queue send-email --limit 20
      jobrunner dlq list --error TimeoutError --since 2h
      jobrunner dlq list --json | jq -r '.[].id'
    """
    from itertools import islice

    from jobrunner.storage.deadletter import DeadFilter, each_dead

    only = DeadFilter(error, since, until)
    client = connect(storage)
    with storage_errors(), client:
        from jobrunner.client import JobInfo

        if only:
            picked = islice(each_dead(client.storage, queue, only, removes=False), limit)
            found = [JobInfo.from_record(r) for r in picked]
        else:
            found = [JobInfo.from_record(r) for r in client.storage.dead(queue, limit)]
        stats = client.storage.stats()
        total = _dead_count(client.storage, queue) if not only else len(found)
        empty = "" if found else _unknown_queue(client, queue) if queue else "no dead jobs"
    broken = [
        f"warning: queue {safe(name)} is broken in storage, its dead jobs cannot be listed: "
        f"{safe(s.broken)}"
        for name, s in stats.items()
        if s.broken and queue in (None, name)
    ]
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in found], indent=2, default=str))
        for line in broken:
            click.echo(line, err=True)
        return
    now = time.time()
    rows = [
        [safe(i.id), safe(i.queue), len(i.attempts), f"{ago(now - i.updated)} ago", _why(i)]
        for i in found
    ]
    if not rows:
        click.echo(empty if not broken else "no dead jobs listed", err=True)
    else:
        click.echo(table(["ID", "QUEUE", "ATTEMPTS", "DIED", "REASON"], rows))
        if total > len(found):
            click.echo(f"showing {len(found)} of {total} dead jobs: raise --limit", err=True)
    for line in broken:
        click.echo(line, err=True)


@dlq.command()
@click.argument("job_id", metavar="ID")
@storage_url
@_json
def show(job_id: str, storage: str, as_json: bool) -> None:
    """Show dead job ID: why it died, and every attempt with its error and traceback.

    \b
    Examples:
      jobrunner dlq show 01a201dd79c77ae84ed42874
      jobrunner dlq show 01a201dd79c77ae84ed42874 --json | jq '.attempts[-1].error'
    """
    client = connect(storage)
    with storage_errors(), client:
        info = client.job(job_id)
    if info is None or info.state is not State.DEAD:
        found = "unknown id, or its record expired" if info is None else f"it is {info.state}"
        raise click.ClickException(f"job '{job_id}' is not in the dead-letter queue: {found}")
    emit(info, as_json)


@dlq.command()
@_ids
@_queue
@_all
@_filters
@storage_url
@_json
def replay(
    job_ids: tuple[str, ...],
    queue: str | None,
    all_: bool,
    error: str | None,
    since: float | None,
    until: float | None,
    storage: str,
    as_json: bool,
) -> None:
    """Put dead jobs back in their queue as fresh first attempts (history kept).

    Fix the cause first (the handler, the endpoint, the payload schema),
    then replay. --error, --since and --until narrow --queue or --all to the
    jobs that died of one cause or in one window (`dlq list` with the same
    options shows them first). Prints each job it replayed. Exit status: 0,
    or 1 if an ID was not in the dead-letter queue (the others are still
    replayed).

    \b
    Examples:
      jobrunner dlq replay 01a201dd79c77ae84ed42874 01a201dd7a4927852d756690
      jobrunner dlq replay --queue send-email
      jobrunner dlq replay --queue send-email --error "connection refused" --since 1h
      jobrunner dlq replay --all --json
    """
    only = _picked(job_ids, queue, all_, "replay", error, since, until)
    client = connect(storage)
    replayed, missing = [], []
    with storage_errors(), client:
        configured = _configured(client)
        for job_id, job_queue in _targets(client, job_ids, queue, only):
            if not client.storage.replay(job_id):
                missing.append(job_id)
                continue
            replayed.append({"id": job_id, "queue": job_queue})
            if not as_json:
                click.echo(f"replayed {job_id} ({job_queue})")
            if configured is not None and job_queue and job_queue not in configured:
                click.echo(f"warning: '{job_queue}' is not configured: no worker runs it", err=True)
    if as_json:
        click.echo(json.dumps({"replayed": replayed, "missing": missing}, indent=2))
    elif not replayed and not missing:
        click.echo("no dead jobs: nothing replayed", err=True)
    _fail_if_missing(missing)


@dlq.command()
@_ids
@_queue
@_all
@_filters
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@storage_url
@_json
def purge(
    job_ids: tuple[str, ...],
    queue: str | None,
    all_: bool,
    error: str | None,
    since: float | None,
    until: float | None,
    yes: bool,
    storage: str,
    as_json: bool,
) -> None:
    """Delete dead jobs for good.

    --error, --since and --until narrow --queue or --all as for `replay`.
    Asks for confirmation when run on a terminal, unless --yes. Exit status:
    0, 1 if an ID was not in the dead-letter queue or the answer was no.

    \b
    Examples:
      jobrunner dlq purge 01a201dd79c77ae84ed42874
      jobrunner dlq purge --queue send-email
      jobrunner dlq purge --all --until 7d --yes     # in a script: older than a week
    """
    only = _picked(job_ids, queue, all_, "purge", error, since, until)
    client = connect(storage)
    with storage_errors(), client:
        picked = [r.job.id for r in _each(client, queue, only, removes=False)] if only else []
        count = len(job_ids) or (len(picked) if only else _dead_count(client.storage, queue))
        scope = f"of queue '{queue}' " if queue else "of every queue " if all_ else ""
        scope += "that match " if only else ""
        if (
            count
            and not yes
            and sys.stdin.isatty()
            and not click.confirm(
                f"Delete {count} dead job{'s' if count != 1 else ''} {scope}for good?"
            )
        ):
            raise click.ClickException("nothing purged")
        if job_ids:
            missing = [i for i in dict.fromkeys(job_ids) if not client.storage.purge(job_id=i)]
            purged = [i for i in dict.fromkeys(job_ids) if i not in missing]
            count = len(purged)
        elif only:
            purged = [i for i in picked if client.storage.purge(job_id=i)]
            missing, count = [], len(purged)
        else:
            purged, missing = [], []
            count = client.storage.purge(queue=queue)
    if as_json:
        click.echo(json.dumps({"purged": count, "missing": missing}, indent=2))
    else:
        for job_id in purged:
            click.echo(f"purged {job_id}")
        if not job_ids:
            click.echo(f"purged {count} dead job{'s' if count != 1 else ''} {scope}".rstrip())
    _fail_if_missing(missing)


def _picked(
    job_ids: tuple[str, ...],
    queue: str | None,
    all_: bool,
    verb: str,
    error: str | None,
    since: float | None,
    until: float | None,
) -> DeadFilter:
    """The filter of the jobs to act on, once the selectors given make sense together."""
    from jobrunner.storage.deadletter import DeadFilter

    given = sum((bool(job_ids), queue is not None, all_))
    if given == 0:
        raise click.UsageError(f"say which dead jobs to {verb}: job IDs, --queue QUEUE or --all")
    if given > 1:
        raise click.UsageError("give job IDs, --queue or --all: only one of them")
    only = DeadFilter(error, since, until)
    if only and job_ids:
        raise click.UsageError("--error, --since and --until narrow --queue or --all, not IDs")
    return only


def _each(
    client: Client, queue: str | None, only: DeadFilter, *, removes: bool = True
) -> Iterator[Record]:
    from jobrunner.storage.deadletter import each_dead

    return each_dead(client.storage, queue, only, removes=removes)


def _targets(
    client: Client, job_ids: tuple[str, ...], queue: str | None, only: DeadFilter
) -> Iterator[tuple[str, str]]:
    """(id, queue) of each job named, or of every dead job of `queue` (None: all) that
    `only` admits."""
    if job_ids:
        for job_id in dict.fromkeys(job_ids):
            record = client.storage.record(job_id)
            yield job_id, record.job.queue if record else ""
        return
    for record in _each(client, queue, only):
        yield record.job.id, record.job.queue


def _fail_if_missing(missing: list[str]) -> None:
    for job_id in missing:
        click.echo(f"error: job '{job_id}' is not in the dead-letter queue", err=True)
    if missing:
        raise SystemExit(1)


def _dead_count(storage: Storage, queue: str | None) -> int:
    stats = storage.stats()
    if queue is not None:
        return int(stats[queue].dead) if queue in stats else 0
    return sum(int(s.dead) for s in stats.values())


def _configured(client: Client) -> set[str] | None:
    """Names that have a worker in the published configuration (None: nothing published)."""
    from jobrunner.storage import records

    doc = records.read_published(client.storage)
    if doc is None:
        return None
    return set(doc.queues) | set(doc.crons)


def _unknown_queue(client: Client, queue: str) -> str:
    from jobrunner.values.suggest import did_you_mean

    known = (_configured(client) or set()) | set(client.storage.stats())
    if queue in known:
        return f"no dead jobs in '{queue}'"
    return f"no queue '{queue}' in this storage{did_you_mean(queue, known)}"


def _why(info: JobInfo) -> str:
    text = " ".join(safe(info.reason or info.error or "-").split())
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"
