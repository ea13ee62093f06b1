"""`jobrunner status`: daemons alive, the configuration in force, queues, cron entries, problems."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from jobrunner.cli.jobs import ago, storage_errors, table
from jobrunner.cli.options import open_or_exit, storage_url
from jobrunner.problem import Severity
from jobrunner.storage import records

if TYPE_CHECKING:
    from jobrunner.storage import QueueStats, Storage
    from jobrunner.storage.records import Entry, Published

COUNTS = ("ready", "scheduled", "running", "dead")


def gather(storage: Storage, now: float) -> dict[str, Any]:
    """Everything `status` shows, as JSON-ready data (what `--json` prints)."""
    doc = records.read_published(storage)
    daemons = [
        {**d, "beat_age": now - d["seen"] if isinstance(d.get("seen"), int | float) else None}
        for d in storage.daemons()
    ]
    config = None
    if doc is not None:
        config = {"generation": doc.generation, "hash": doc.hash, "files": list(doc.files)}
    problems = records.read_problems(storage)
    return {
        "now": now,
        "storage": storage.url,
        "config": config,
        "daemons": daemons,
        "queues": _queues(doc, storage.stats()),
        "crons": _crons(storage, doc, now),
        "problems": problems.as_dict() if problems is not None else None,
    }


def _queues(doc: Published | None, stats: Mapping[str, QueueStats]) -> dict[str, dict[str, Any]]:
    """Every configured queue, even idle; then anything else that holds jobs."""
    queues = doc.queues if doc is not None else {}
    crons = {name for name, c in doc.crons.items() if "handler" in c} if doc is not None else set()
    names = [*sorted(queues), *sorted(set(stats) - set(queues))]
    found = {}
    for name in names:
        kind = "queue" if name in queues else "cron" if name in crons else "other"
        counts = stats.get(name)
        found[name] = {"kind": kind, **{c: getattr(counts, c, 0) for c in COUNTS}}
    return found


def _crons(storage: Storage, doc: Published | None, now: float) -> dict[str, dict[str, Any]]:
    """Every published cron entry, with what its recorded state says it last did."""
    found = {}
    for name, entry in sorted(doc.crons.items() if doc is not None else ()):
        state = records.read_cron(storage, name)
        job = state.job
        record = storage.record(job) if job else None
        suspended = bool(entry.get("suspend"))
        upcoming = None if suspended else _next(entry, now)
        found[name] = {
            "explain": entry.get("explain"),
            "target": {k: entry[k] for k in ("queue", "handler") if k in entry},
            "source": entry.get("source"),
            "suspended": suspended,
            "last": state.last,
            "job": job,
            "job_state": record.state.value if record is not None else None,
            "manual": job is not None and state.manual == job,
            "next": upcoming,
            "skipped": state.skipped,
            "last_skip": state.last_skip,
        }
    return found


def _next(entry: Entry, now: float) -> float | None:
    """The entry's next tick after `now` (epoch seconds), from its published schedule fields."""
    from jobrunner.values import duration, schedule

    when: schedule.Schedule
    try:
        if "schedule" in entry:
            when = schedule.Cron(entry["schedule"], entry.get("timezone") or "UTC")
        elif "every" in entry:
            when = schedule.Every(duration.parse(entry["every"]))
        else:
            when = schedule.At(schedule.parse_at(entry["at"]))
        upcoming = schedule.next_fire(when, datetime.fromtimestamp(now, UTC))
    except (KeyError, ValueError, TypeError, LookupError):  # written by another version
        return None
    return upcoming.timestamp() if upcoming is not None else None


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
    lines.append(f"crons:    {len(data['crons']) or 'none'}")
    if data["crons"]:
        headers = ["CRON", "SCHEDULE", "TARGET", "LAST TICK", "LAST RUN", "NEXT TICK", "SKIPPED"]
        lines.append(_indent(table(headers, _cron_rows(data["crons"], data["now"]))))
    lines.extend(_problems(data["problems"], data["now"], _setup_problems(data)))
    return "\n".join(lines)


def _cron_rows(crons: dict[str, dict[str, Any]], now: float) -> list[list[Any]]:
    rows = []
    for name, c in crons.items():
        target = c["target"]
        run = c["job_state"] or ("expired" if c["job"] else "-")
        if c["next"] is not None:
            upcoming = f"in {ago(c['next'] - now)}"
        else:
            upcoming = "suspended" if c["suspended"] else "-"
        rows.append(
            [
                name,
                c["explain"] or "-",
                f"queue {target['queue']}" if "queue" in target else f"run {target.get('handler')}",
                "-" if c["last"] is None else f"{ago(now - c['last'])} ago",
                run + (" (manual)" if c["manual"] else ""),
                upcoming,
                c["skipped"],
            ]
        )
    return rows


def _problems(stored: dict[str, Any] | None, now: float, setup: list[str]) -> list[str]:
    """The problems the daemons found in the job files at their last (re)load, and the
    handlers they could not set up when they ran a job."""
    from jobrunner.cli import report

    if stored is None:
        return [
            "problems: none recorded yet (a daemon records them each time it loads jobs.d)",
            *setup,
        ]
    verdict = records.ProblemsRecord.from_dict(stored)
    errors = sum(p.severity is Severity.ERROR for p in verdict.problems) + len(setup)
    since = f" (checked {ago(now - verdict.checked)} ago)" if verdict.checked is not None else ""
    warnings = len(verdict.problems) + len(setup) - errors
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    lines = [f"problems: {counts if verdict.problems or setup else 'none'}{since}", *setup]
    for p in verdict.problems:
        lines.extend(f"  {line}" for line in report.text([p]).splitlines())
    for files, key, what in (
        (verdict.quarantined, "quarantined", "the last good version stays in force"),
        (verdict.left_out, "left out", "no good version yet: its entries do not run"),
    ):
        lines.extend(f"  {key}: {file} ({what})" for file in files)
    if verdict.refused:
        lines.append(
            "  refused: the files do not validate together, so the last change was not "
            "applied: the configuration in force stays"
        )
    return lines


def _setup_problems(data: dict[str, Any]) -> list[str]:
    """A line for each lane a daemon could not set up the handler of (its heartbeat says)."""
    lines = []
    for d in data["daemons"]:
        found = d.get("setup_problems")
        for p in found if isinstance(found, list) else []:
            if not isinstance(p, dict) or not isinstance(p.get("lane"), str):
                continue  # a heartbeat from another version, or garbage: nothing to show
            since = p.get("since")
            age = (
                f", since {ago(data['now'] - since)} ago" if isinstance(since, int | float) else ""
            )
            kind = data["queues"].get(p["lane"], {}).get("kind", "queue")
            kind = "cron entry" if kind == "cron" else "queue"
            lines.append(
                f"  {p.get('file', '?')}:{p.get('line', '?')}: {kind} '{p['lane']}': its handler "
                f"cannot be set up: {p.get('error', '?')} (daemon {d.get('id', '?')}{age})"
            )
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


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
    """Show live daemons, the configuration in force, queues, cron entries and problems.

    Daemons: host, pid, role, the configuration generation they run, whether
    they can reach the storage, how long ago they last said they were alive
    (a daemon that stops beating drops off the list) and the queues they work.
    Configuration: the generation, content hash and files the daemons
    published. Queues: every configured queue, even idle, with its jobs
    ready (due, waiting for a worker), scheduled (delayed or backing off
    before a retry), running and dead (in the dead-letter queue); cron
    entries that run their own handler appear once they have jobs. Crons:
    each entry's schedule in words, its target, its last tick and how that
    run went, its next tick (or `suspended`) and the ticks skipped because
    the previous run was still going. Problems: what the daemons found
    wrong in the job files at their last (re)load, as `validate` prints it,
    and which files are quarantined (their last good version runs), left
    out, or whether the change was refused. Exit status: 0, or 1 when the
    storage cannot be reached.

    \b
    Examples:
      jobrunner status
      jobrunner status --storage redis://jobs.internal:6379/0
      jobrunner status --json | jq '.queues["send-email"].dead'
      jobrunner status --json | jq '.problems.quarantined'
    """
    store = open_or_exit(storage)
    try:
        with storage_errors():
            data = gather(store, time.time())
    finally:
        store.close()
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))
