"""`jobrunner jobs list`: find jobs by queue, state, creation time and payload field, a page
at a time (the same search as `GET /api/v1/jobs`, through `Client.jobs`)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from jobrunner.cli.jobs import ago, connect, storage_errors, table
from jobrunner.cli.options import moment_callback, storage_url
from jobrunner.job import State
from jobrunner.storage import search

if TYPE_CHECKING:
    from jobrunner.client import JobInfo, JobPage

ERROR_WIDTH = 60  # characters of the last error shown in the table


def _where(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    path, equals, text = value.partition("=")
    if not equals:
        raise click.BadParameter(
            f"'{value}' is not PATH=VALUE: write customer.id=42 (the number) or "
            "'customer.id=\"42\"' (the text)"
        )
    try:
        search.Match.parse(path.strip(), None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return path.strip(), search.typed(text)


@click.command("list")
@click.option("--queue", metavar="QUEUE", help="Only this queue's jobs (every queue if absent).")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in State]),
    help="Only jobs in this state; repeat for several.",
)
@click.option(
    "--since",
    metavar="WHEN",
    callback=moment_callback,
    help="Created at or after WHEN: 2h (ago) or 2026-12-06T09:30Z.",
)
@click.option("--until", metavar="WHEN", callback=moment_callback, help="Created before WHEN.")
@click.option(
    "--where",
    metavar="PATH=VALUE",
    callback=_where,
    help="Only jobs whose payload field PATH (dotted: customer.id, items.0.sku) equals VALUE, "
    'read as JSON when it is JSON (42, true, "42"), else as text.',
)
@click.option(
    "--limit",
    type=click.IntRange(1, search.MAX_LIMIT),
    default=search.LIMIT,
    show_default=True,
    help="Jobs in one page.",
)
@click.option("--cursor", metavar="CURSOR", help="Go on where the previous page stopped.")
@storage_url
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON, for scripts.")
def job_list(
    queue: str | None,
    states: tuple[str, ...],
    since: float | None,
    until: float | None,
    where: tuple[str, Any] | None,
    limit: int,
    cursor: str | None,
    storage: str,
    as_json: bool,
) -> None:
    """List jobs newest first, by queue, state, creation time and payload field.

    Shows id, queue, state, when it was created, its attempts and its last
    error; the last line says how to get the next page. One call reads at
    most 5,000 stored jobs whatever the filters, so a search for a rare
    payload value may print a short (even empty) page and a cursor to go on.
    Finished jobs are listed while their records are kept (retain_completed,
    dead_letter.retain). Exit status: 0 listed (even none), 1 storage
    unreachable, 2 a bad option or cursor.

    \b
    Examples:
      jobrunner jobs list --queue send-email --state dead --since 1h
      jobrunner jobs list --where 'customer.id="42"'         # the text "42"
      jobrunner jobs list --where customer.id=42 --json | jq -r '.jobs[].id'
      jobrunner jobs list --queue reports --cursor j1.WzE3NjUw…   # the next page
    """
    client = connect(storage)
    with storage_errors(), client:
        try:
            page = client.jobs(
                queue,
                states=states,
                since=since,
                until=until,
                where=where,
                limit=limit,
                cursor=cursor,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(page.as_dict(), indent=2, default=str))
        return
    if page.jobs:
        click.echo(table(HEADERS, [_row(info, time.time()) for info in page.jobs]))
    click.echo(_footer(page))


HEADERS = ("ID", "QUEUE", "STATE", "CREATED", "ATTEMPTS", "LAST ERROR")


def _row(info: JobInfo, now: float) -> list[Any]:
    created = "-"
    if info.created:
        stamp = datetime.fromtimestamp(info.created).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        created = f"{stamp} ({ago(now - info.created)} ago)"
    error = (info.error or (info.reason if info.state is State.DEAD else "") or "-").splitlines()
    last = error[0] if error else "-"
    if len(last) > ERROR_WIDTH:
        last = last[: ERROR_WIDTH - 1] + "…"
    return [info.id, info.queue, info.state.value, created, len(info.attempts), last]


def _footer(page: JobPage) -> str:
    """How many were shown and examined, and the command that shows the next page."""
    shown = f"{len(page.jobs)} job{'s' if len(page.jobs) != 1 else ''}"
    said = f"{shown} ({page.examined:,} examined)"
    if page.next is None:
        return f"{said}; no more."
    return f"{said}; next page:\n  jobrunner {shlex.join([*_args(), '--cursor', page.next])}"


def _args() -> list[str]:
    """This command's arguments without its --cursor, to repeat it for the next page."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg.startswith("--cursor="):
            skip = False
            continue
        if arg == "--cursor":
            skip = True
            continue
        args.append(arg)
    return args
