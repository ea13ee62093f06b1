"""`jobrunner queues pause|resume|list`: stop and restart the work of a queue, from any host.

The pause is kept in the storage, so every daemon sharing it honours it within
a second, and it holds across restarts until someone resumes the queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from jobrunner.cli.jobs import connect, storage_errors
from jobrunner.cli.options import open_or_exit, storage_url
from jobrunner.cli.status import queue_table, safe

if TYPE_CHECKING:
    from jobrunner.storage import Pause

_json = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
_queue = click.argument("queue", metavar="QUEUE")


@click.group()
def queues() -> None:
    """Pause and resume queues; list them with their state.

    A paused queue still takes jobs (enqueues and cron ticks work; the jobs
    wait), but no daemon starts another of its jobs: every daemon sharing the
    storage honours the pause within a second, and jobs already running
    finish. The pause is kept in the storage, so it holds across restarts
    until the queue is resumed.

    \b
    The usual round:
      jobrunner queues pause send-email --reason "mail relay down (INC-4711)"
      jobrunner queues list                   # paused since when, by whom, why; what waits
      jobrunner queues resume send-email      # the waiting jobs start at once
    """


@queues.command()
@_queue
@click.option("--reason", metavar="TEXT", help="Why, for `status` and the next operator.")
@storage_url
@_json
def pause(queue: str, reason: str | None, storage: str, as_json: bool) -> None:
    """Pause QUEUE: no daemon starts another of its jobs until it is resumed.

    Running jobs finish; new jobs are still accepted and wait. Who paused it
    (user@host), when and --reason are kept with the pause and shown by
    `queues list` and `status`. Pausing a paused queue replaces them. Exit
    status: 0 paused, 1 unknown queue, nothing published or storage
    unreachable.

    \b
    Examples:
      jobrunner queues pause send-email --reason "mail relay down (INC-4711)"
      jobrunner queues pause reports --storage redis://jobs.internal:6379/0
      jobrunner queues pause send-email --json | jq .paused.since
    """
    client = connect(storage)
    with storage_errors(), refusals(), client:
        done = client.pause(queue, reason)
    if as_json:
        click.echo(json.dumps({"queue": queue, "paused": done.as_dict()}, indent=2))
        return
    click.echo(f"paused {queue}: its jobs wait until `jobrunner queues resume {queue}`")


@queues.command()
@_queue
@storage_url
@_json
def resume(queue: str, storage: str, as_json: bool) -> None:
    """Resume QUEUE: its waiting jobs start at once, on every daemon.

    Prints the pause it lifted (when, by whom, why). A queue that was not
    paused is left as it is, and said so. Exit status: 0 resumed or not
    paused, 1 unknown queue, nothing published or storage unreachable.

    \b
    Examples:
      jobrunner queues resume send-email
      jobrunner queues resume send-email --json | jq .resumed
    """
    client = connect(storage)
    with storage_errors(), refusals(), client:
        lifted = client.resume(queue)
    if as_json:
        pause = lifted.as_dict() if lifted is not None else None
        resumed = {"queue": queue, "resumed": lifted is not None, "pause": pause}
        click.echo(json.dumps(resumed, indent=2))
    elif lifted is None:
        click.echo(f"{queue} was not paused: nothing to resume", err=True)
    else:
        click.echo(f"resumed {queue} (paused {_lifted(lifted)})")


@queues.command("list")
@storage_url
@_json
def list_(storage: str, as_json: bool) -> None:
    """List every queue: active or paused, and its jobs by state.

    Every configured queue is listed, even idle, then anything else that
    holds jobs or is paused; under the table, each paused queue with when,
    by whom and why.

    \b
    Examples:
      jobrunner queues list
      jobrunner queues list --json | jq -r '.queues | map_values(select(.paused)) | keys[]'
    """
    from jobrunner.storage.overview import all_queues

    store = open_or_exit(storage)
    try:
        with storage_errors():
            data = all_queues(store, time.time())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    lines = queue_table(data["queues"], time.time())
    click.echo("\n".join(lines) if lines else "no queues: no daemon has published any yet")
    for damage in data["storage_problems"]:
        click.echo(f"warning: {safe(damage['what'])}: {safe(damage['reason'])}", err=True)


@contextmanager
def refusals() -> Iterator[None]:
    """An unknown queue (or nothing published) as one line, exit 1."""
    from jobrunner.client import EnqueueError

    try:
        yield
    except EnqueueError as exc:
        raise click.ClickException(str(exc)) from None


def _lifted(pause: Pause) -> str:
    from jobrunner.cli.jobs import ago

    text = f"{ago(time.time() - pause.since)} ago" if pause.since is not None else "earlier"
    text += f" by {safe(pause.by)}" if pause.by else ""
    return text + (f": {safe(pause.reason)}" if pause.reason else "")
