"""`jobrunner enqueue`: put one job into a queue from a shell, a script or cron."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any

import click

from jobrunner.cli.jobs import connect, emit, storage_errors
from jobrunner.cli.options import storage_url
from jobrunner.job import PRIORITY_RANK


def _data(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """The payload: inline JSON, `@file` or `-` for stdin."""
    source = "stdin" if value == "-" else value[1:] if value.startswith("@") else None
    try:
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            with open(value[1:], encoding="utf-8") as file:
                text = file.read()
        else:
            text = value
    except OSError as exc:
        raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        where = "standard input" if value == "-" else value[1:]
        message = f"{where} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        raise click.BadParameter(message) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise click.BadParameter("the JSON is nested too deeply") from None
    except ValueError as exc:
        where = f" in {source}" if source else ""
        raise click.BadParameter(
            f'invalid JSON{where}: {exc} (example: --data \'{{"to": "ada@example.com"}}\')'
        ) from None


def _delay(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    from jobrunner.values import duration

    try:
        return duration.parse(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _at(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from jobrunner.values.schedule import parse_at

    try:
        return parse_at(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("queue")
@click.option(
    "--data",
    "payload",
    default="{}",
    show_default=True,
    callback=_data,
    metavar="JSON|@FILE|-",
    help="The payload: inline JSON, @path/to/file.json, or - to read stdin.",
)
@click.option(
    "--delay", callback=_delay, metavar="DURATION", help="Run after this long: 30s, 10m, 1h30m."
)
@click.option(
    "--at", "at", callback=_at, metavar="TIME", help="Run at this RFC 3339 time (with an offset)."
)
@click.option(
    "--priority",
    type=click.Choice(list(PRIORITY_RANK)),
    help="Priority within the queue (default: the queue's own).",
)
@click.option(
    "--key",
    "idempotency_key",
    metavar="KEY",
    help="Idempotency key (default: the queue's idempotency.key template over the payload).",
)
@storage_url
@click.option("--json", "as_json", is_flag=True, help="Print the new job as JSON, not its id.")
def enqueue(
    queue: str,
    payload: Any,
    delay: timedelta | None,
    at: datetime | None,
    priority: str | None,
    idempotency_key: str | None,
    storage: str,
    as_json: bool,
) -> None:
    """Put a job into QUEUE and print its id.

    The job is checked against the configuration the daemons published to
    the storage, as `jobrunner.Client.enqueue` does: the queue must exist and
    the payload must match its payload_schema. A job whose idempotency key
    was seen within the queue's ttl is not stored again: the first job's id
    is printed instead. Exit status: 0 enqueued (or deduplicated), 1 refused
    or storage unreachable, 2 usage error.

    \b
    Examples:
      jobrunner enqueue send-email --data '{"to": "ada@example.com", "template": "welcome"}'
      jobrunner enqueue send-email --data @welcome.json --delay 10m
      jobrunner enqueue reindex --at 2026-12-01T02:00:00+01:00 --priority low
      generate-batch | jobrunner enqueue import --data - --key batch-2026-11-22
      id=$(jobrunner enqueue send-email --data @msg.json) && jobrunner jobs show "$id"
    """
    from jobrunner.client import EnqueueError

    if delay is not None and at is not None:
        raise click.UsageError("give either --delay or --at, not both")
    client = connect(storage)
    with storage_errors(), client:
        try:
            job_id = client.enqueue(
                queue,
                payload,
                delay=delay,
                at=at,
                priority=priority,
                idempotency_key=idempotency_key,
            )
        except EnqueueError as exc:
            raise click.ClickException(str(exc)) from None
        info = client.job(job_id) if as_json else None
    if info is not None:
        emit(info, as_json=True)
    else:
        click.echo(job_id)
