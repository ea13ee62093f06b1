"""`jobrunner status`: daemons alive, the configuration in force, queues, cron entries, problems."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from jobrunner.cli.jobs import ago, storage_errors, table
from jobrunner.cli.options import open_or_exit, storage_url
from jobrunner.problem import Severity
from jobrunner.storage import records
from jobrunner.storage.overview import COUNTS, gather
from jobrunner.storage.stored import is_time


def render(data: dict[str, Any]) -> str:
    lines = [f"storage:  {data['storage']}"]
    config = data["config"]
    if config is None:
        lines.append("config:   none published yet: start `jobrunner run` with this --storage")
    else:
        files = config.get("files") or []
        commit = f"commit {safe(config['commit'])}, " if config.get("commit") else ""
        lines.append(
            f"config:   generation {config['generation']}, hash {config['hash']}, {commit}"
            f"{len(files)} file{'' if len(files) == 1 else 's'}"
        )
        lines.extend(f"          {file}" for file in files)
    lines.append(f"daemons:  {len(data['daemons']) or 'none'} alive")
    if data["daemons"]:
        headers = ["ID", "HOST", "PID", "ROLE", "GEN", "HEALTH", "LAST BEAT", "QUEUES"]
        lines.append(_indent(table(headers, _rows(data))))
    lines.append(f"queues:   {len(data['queues']) or 'none'}")
    lines.extend(_indent(line) for line in queue_table(data["queues"], data["now"]))
    lines.append(f"crons:    {len(data['crons']) or 'none'}")
    if data["crons"]:
        headers = ["CRON", "SCHEDULE", "TARGET", "LAST TICK", "LAST RUN", "NEXT TICK"]
        headers += ["SKIPPED", "MISSED"]
        lines.append(_indent(table(headers, _cron_rows(data["crons"], data["now"]))))
    lines.extend(_problems(data["problems"], data["now"], _setup_problems(data)))
    damage = data["storage_problems"]
    if damage:
        lines.append(
            f"storage problems: {len(damage)} (data jobrunner did not write; docs/security.md)"
        )
        lines.extend(f"  {safe(d['what'])}: {safe(d['reason'])}" for d in damage)
    return "\n".join(lines)


def queue_table(queues: dict[str, dict[str, Any]], now: float) -> list[str]:
    """The queues as a table, then a line for each paused one: since when, by whom, why."""
    if not queues:
        return []
    rows = [
        [
            safe(name) + ("" if q["kind"] == "queue" else f" ({q['kind']})"),
            "paused" if q.get("paused") else "broken" if q.get("broken") else "active",
            *("?" if q[c] is None else q[c] for c in COUNTS),
            "-" if q.get("oldest_ready_age") is None else _ago(q["oldest_ready_age"]),
        ]
        for name, q in queues.items()
    ]
    heading = ["QUEUE", "STATE", *(c.upper() for c in COUNTS), "OLDEST READY"]
    lines = table(heading, rows).splitlines()
    for name, q in queues.items():
        pause = q.get("paused")
        if pause:
            lines.append(f"{safe(name)}: paused {_paused(pause, now)}")
    return lines


def _paused(pause: dict[str, Any], now: float) -> str:
    """`3m12s ago by ops@web1: mail relay down`, from what the storage holds."""
    since = pause.get("since")
    text = f"{_ago(now - since)} ago" if is_time(since) else "(since an unknown time)"
    if pause.get("by"):
        text += f" by {safe(pause['by'])}"
    if pause.get("reason"):
        text += f": {safe(pause['reason'])}"
    return text


def safe(text: Any) -> str:
    """`text` fit for a terminal: control characters and bytes that were not UTF-8 escaped
    (a stray writer's queue name must not move the cursor or clear the screen)."""
    out = []
    for char in str(text):
        if char.isprintable() or char == " ":
            out.append(char)
        elif "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


def _ago(seconds: Any) -> str:
    """`ago(seconds)`, or `?` for a stored time that is not one (a stray writer's)."""
    return ago(seconds) if is_time(seconds) else "?"


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
                "-" if c["last"] is None else f"{_ago(now - c['last'])} ago",
                run + (" (manual)" if c["manual"] else ""),
                upcoming,
                c["skipped"],
                c.get("missed", 0),
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
    since = f" (checked {_ago(now - verdict.checked)} ago)" if verdict.checked is not None else ""
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
            age = f", since {_ago(data['now'] - since)} ago" if is_time(since) else ""
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
                safe(d["id"]),
                safe(d.get("host", "-")),
                safe(d.get("pid", "-")),
                safe(d.get("role", "-")),
                safe(d.get("generation", "-")),
                "unreadable"
                if "unreadable" in d
                else "-"
                if healthy is None
                else "ok"
                if healthy
                else "unhealthy",
                "-" if age is None else f"{_ago(age)} ago",
                safe(",".join(map(str, queues))) if isinstance(queues, list) and queues else "-",
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
    published. Queues: every configured queue, even idle, with its state
    (active, or paused: `jobrunner queues pause`) and its jobs ready (due,
    waiting for a worker), scheduled (delayed or backing off before a
    retry), running and dead (in the dead-letter queue); cron entries that
    run their own handler appear once they have jobs. Crons:
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
      jobrunner status --json | jq '.queues["send-email"].paused'
      jobrunner status --json | jq '.problems.quarantined'
    """
    store = open_or_exit(storage)
    try:
        with storage_errors():
            data = gather(store, time.time())
    finally:
        store.close()
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))
