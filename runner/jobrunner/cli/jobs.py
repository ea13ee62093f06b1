"""`jobrunner jobs show|cancel|retry`: everything known of one job (its rendering is shared
with `dlq`), cancelling jobs and putting dead or cancelled ones back. `jobs list` is in
joblist.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from jobrunner.cli.options import storage_url
from jobrunner.job import Attempt, State
from jobrunner.values import duration

if TYPE_CHECKING:  # the client is imported by the commands that talk to the storage
    from jobrunner.client import Client, JobInfo

WAITING = (State.SCHEDULED, State.RETRYING)
TRACEBACK_LINES = 12  # the end of a long traceback summary is the useful part


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn an unreachable or unusable storage into one line and exit 1."""
    from jobrunner.storage import StorageError

    try:
        yield
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


def connect(url: str) -> Client:
    """A `Client` on `url`, or exit 1 with one line saying why it cannot be opened."""
    from jobrunner.client import Client

    with storage_errors():
        return Client(url)


def ago(seconds: float) -> str:
    """`3m12s` for a span of time, to the second."""
    return duration.format(timedelta(seconds=round(abs(seconds))))


def took(seconds: float) -> str:
    """An attempt's duration: `850ms`, `1.2s`, `4m10s`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 60 else ago(seconds)


def when(epoch: float | None, now: float) -> str:
    """A local time with its offset, and how far it is from now."""
    if not epoch:
        return "-"
    stamp = datetime.fromtimestamp(epoch).astimezone().isoformat(sep=" ", timespec="seconds")
    relative = f"{ago(now - epoch)} ago" if epoch <= now else f"in {ago(epoch - now)}"
    return f"{stamp} ({relative})"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to fit; numbers right-aligned."""
    cells = [list(map(str, headers)), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def describe(info: JobInfo, now: float) -> str:
    """A `JobInfo` for people: one field a line, then each attempt with its error."""
    state = info.state.value + (f": {info.reason}" if info.reason else "")
    fields = [
        ("job", info.id),
        ("queue", info.queue + (f" (fired by cron {info.cron})" if info.cron else "")),
        ("state", state),
        ("priority", info.priority),
        ("payload", json.dumps(info.payload)),
        ("created", when(info.created, now)),
        ("updated", when(info.updated, now)),
        ("due", when(info.run_at, now) if info.state in WAITING else ""),
        ("idempotency key", info.idempotency_key or "-"),
        ("trace id", info.trace_id or "-"),
        *((name, str(value)) for name, value in sorted(info.extra.items())),
        ("result", json.dumps(info.result) if info.state is State.SUCCEEDED else ""),
        ("attempts", str(len(info.attempts))),
    ]
    lines = [f"{name + ':':<17}{value}" for name, value in fields if value]
    later: dict[str, int] = {}  # traceback -> the last attempt that had it
    for attempt in reversed(info.attempts):
        later.setdefault(attempt.traceback.strip(), attempt.number)
    for attempt in info.attempts:
        lines.extend(_attempt(attempt, now, later))
    return "\n".join(lines)


def _attempt(attempt: Attempt, now: float, later: dict[str, int]) -> list[str]:
    """One attempt; a traceback that a later attempt repeats is shown there only."""
    head = (
        f"  #{attempt.number}  {attempt.outcome:<9} {took(attempt.duration):>7}  "
        f"{when(attempt.started, now)}" + (f"  on {attempt.daemon}" if attempt.daemon else "")
    )
    lines = [head]
    if attempt.error_type or attempt.error:
        lines.append(f"      {attempt.error_type or 'error'}: {attempt.error}")
    same = later.get(attempt.traceback.strip(), attempt.number)
    if attempt.traceback.strip() and same != attempt.number:
        lines.append(f"      (traceback as in #{same})")
        return lines
    trace = attempt.traceback.strip().splitlines()
    if len(trace) > TRACEBACK_LINES:
        lines.append(f"      … {len(trace) - TRACEBACK_LINES} lines above")
    lines.extend(f"      {line}" for line in trace[-TRACEBACK_LINES:])
    return lines


def emit(info: JobInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2, default=str))
    else:
        click.echo(describe(info, time.time()))


@click.group()
def jobs() -> None:
    """Find jobs (`list`) and look them up by id: their state, attempts, errors and result."""


@jobs.command()
@click.argument("job_id", metavar="ID")
@storage_url
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON, for scripts.")
def show(job_id: str, storage: str, as_json: bool) -> None:
    """Show everything known of job ID.

    State (and why it is dead or waiting), queue, priority, payload, times,
    idempotency key, trace id, the result once it succeeded, and every
    attempt with its outcome, duration, error type and message and the end
    of its traceback. Finished jobs are remembered for their queue's
    retain_completed, dead ones for dead_letter.retain. Exit status: 0 shown,
    1 unknown id or storage unreachable.

    \b
    Examples:
      jobrunner jobs show 01a201dd79c77ae84ed42874
      jobrunner jobs show "$id" --json | jq -r .state
      JOBRUNNER_STORAGE=redis://jobs:6379/0 jobrunner jobs show "$id"
    """
    client = connect(storage)
    with storage_errors(), client:
        info = client.job(job_id)
    if info is None:
        raise click.ClickException(
            f"no job '{job_id}' in {client.storage.url}: unknown id, or its record "
            "expired (see retain_completed and dead_letter.retain)"
        )
    emit(info, as_json)


@jobs.command()
@click.argument("job_ids", metavar="ID...", nargs=-1, required=True)
@storage_url
def cancel(job_ids: tuple[str, ...], storage: str) -> None:
    """Cancel jobs: one that waits never runs, one that runs is stopped.

    A queued, scheduled or retrying job leaves its queue at once. A running
    one is stopped by the daemon running it within about a second: a
    `shell` command or an `isolation: process` handler is killed with its
    process group, an in-process handler sees `ctx.cancelled`. Either way
    the job ends `cancelled` (not dead, never retried) and is kept as long
    as its queue keeps dead jobs; `jobrunner jobs retry ID` puts it back.
    Prints what happened to each. Exit status: 0, or 1 if an ID is unknown
    (the others are still cancelled).

    \b
    Examples:
      jobrunner jobs cancel 01a201dd79c77ae84ed42874
      jobrunner jobs cancel "$id1" "$id2"
    """
    from jobrunner.client import UnknownJob
    from jobrunner.storage import Cancel

    said = {
        Cancel.CANCELLED: "cancelled",
        Cancel.REQUESTED: "cancel requested: the daemon running it stops it",
        Cancel.FINISHED: "already finished: nothing to cancel",
    }
    client = connect(storage)
    unknown = []
    with storage_errors(), client:
        for job_id in job_ids:
            try:
                click.echo(f"{job_id}: {said[client.cancel(job_id)]}")
            except UnknownJob as exc:
                click.echo(f"{job_id}: {exc}", err=True)
                unknown.append(job_id)
    if unknown:
        raise SystemExit(1)


@jobs.command()
@click.argument("job_id", metavar="ID")
@storage_url
def retry(job_id: str, storage: str) -> None:
    """Put dead or cancelled job ID back in its queue as a fresh first attempt.

    Its history is kept. Exit status: 0 put back, 1 unknown id or a job that
    is neither dead nor cancelled.

    \b
    Examples:
      jobrunner jobs retry 01a201dd79c77ae84ed42874
    """
    from jobrunner.client import UnknownJob

    client = connect(storage)
    with storage_errors(), client:
        try:
            info = client.job(job_id)
            if info is None:
                raise UnknownJob(f"no job '{job_id}': unknown id, or its record expired")
            if not client.retry(job_id):
                raise click.ClickException(
                    f"job '{job_id}' is {info.state.value}: only dead or cancelled jobs retry"
                )
        except UnknownJob as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{job_id}: back in queue {info.queue}")
