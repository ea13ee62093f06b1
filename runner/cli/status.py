"""`jobrunner status`: the daemons alive, the configuration in force, the queue depths."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from jobrunner.cli.jobs import ago, storage_errors, table
from jobrunner.cli.options import open_or_exit, storage_url

COUNTS = ("ready", "scheduled", "running", "dead")


def gather(storage: Any, now: float) -> dict[str, Any]:
    """Everything `status` shows, as JSON-ready data (what `--json` prints)."""
    doc = storage.published()
    daemons = [
        {**d, "beat_age": now - d["seen"] if isinstance(d.get("seen"), int | float) else None}
        for d in storage.daemons()
    ]
    config = None
    if doc is not None:
        config = {k: doc.get(k) for k in ("generation", "hash", "files")}
    return {
        "storage": storage.url,
        "config": config,
        "daemons": daemons,
        "queues": _queues(doc or {}, storage.stats()),
    }


def _queues(doc: dict[str, Any], stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every configured queue, even idle; then anything else that holds jobs."""
    crons = {name for name, c in doc.get("crons", {}).items() if "handler" in c}
    names = [*sorted(doc.get("queues", {})), *sorted(set(stats) - set(doc.get("queues", {})))]
    found = {}
    for name in names:
        kind = "queue" if name in doc.get("queues", {}) else "cron" if name in crons else "other"
        counts = stats.get(name)
        found[name] = {"kind": kind, **{c: getattr(counts, c, 0) for c in COUNTS}}
    return found


def render(data: dict[str, Any]) -> str:
    lines = [f"storage:  {data['storage']}"]
    config = data["config"]
    if config is None:
        lines.append("config:   none published yet: start `jobrunner run` with this --storage")
    else:
        files = config.get("files") or []
        lines.append(
            f"config:   generation {config['generation']}, hash {config['hash']}, "
            f"{len(files)} file{'' if len(files) == 1 else 's'}"
        )
        lines.extend(f"          {file}" for file in files)
    lines.append(f"daemons:  {len(data['daemons']) or 'none'} alive")
    if data["daemons"]:
        headers = ["ID", "HOST", "PID", "ROLE", "GEN", "HEALTH", "LAST BEAT", "QUEUES"]
        lines.append(_indent(table(headers, _rows(data))))
    lines.append(f"queues:   {len(data['queues']) or 'none'}")
    if data["queues"]:
        rows = [
            [name + ("" if q["kind"] == "queue" else f" ({q['kind']})"), *(q[c] for c in COUNTS)]
            for name, q in data["queues"].items()
        ]
        lines.append(_indent(table(["QUEUE", *(c.upper() for c in COUNTS)], rows)))
    return "\n".join(lines)


def _rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for d in data["daemons"]:
        queues, age, healthy = d.get("queues"), d["beat_age"], d.get("healthy")
        rows.append(
            [
                d["id"],
                d.get("host", "-"),
                d.get("pid", "-"),
                d.get("role", "-"),
                d.get("generation", "-"),
                "-" if healthy is None else "ok" if healthy else "unhealthy",
                "-" if age is None else f"{ago(age)} ago",
                ",".join(queues) if isinstance(queues, list) and queues else "-",
            ]
        )
    return rows


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


@click.command()
@storage_url
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON, for scripts.")
def status(storage: str, as_json: bool) -> None:
    """Show live daemons, the configuration in force and queue depths.

    Daemons: host, pid, role, the configuration generation they run, whether
    they can reach the storage, how long ago they last said they were alive
    (a daemon that stops beating drops off the list) and the queues they work.
    Configuration: the generation, content hash and files the daemons
    published. Queues: every configured queue, even idle, with its jobs
    ready (due, waiting for a worker), scheduled (delayed or backing off
    before a retry), running and dead (in the dead-letter queue); cron
    entries that run their own handler appear once they have jobs. Exit
    status: 0, or 1 when the storage cannot be reached.

    \b
    Examples:
      jobrunner status
      jobrunner status --storage redis://jobs.internal:6379/0
      jobrunner status --json | jq '.queues["send-email"].dead'
    """
    store = open_or_exit(storage)
    try:
        with storage_errors():
            data = gather(store, time.time())
    finally:
        store.close()
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))
