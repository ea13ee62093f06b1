"""`jobrunner health`: is the daemon on this host reporting in, and can it reach its storage?

Meant for a container's HEALTHCHECK and Kubernetes probes. A daemon reports
in (beats) every third of its `--lease`, with its host name and whether it
can reach the storage; the storage forgets it a lease after its last beat.
The check reads those reports, so it tells about the daemon as the rest of
the cluster sees it, whatever its process looks like locally.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click

from jobrunner.cli.options import seconds, storage_url

Kind = Literal["healthy", "silent", "storage"]
UNHEALTHY = 1  # the exit status probes and HEALTHCHECK read as a failure


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind  # silent: no report in time; storage: the storage cannot be used
    reason: str


def judge(
    daemons: Sequence[dict[str, Any]],
    *,
    host: str,
    now: float,
    within: float,
    daemon_id: str | None = None,
) -> Verdict:
    """The health of the daemons of `host` (or the one `daemon_id`), from their reports.

    `seen` is the daemon's clock and `now` ours: beside the daemon they are
    the same clock, so no skew enters (a remote --daemon-id check allows for it
    only through the storage's own expiry of the report).
    """
    mine = [
        d for d in daemons if (d.get("id") == daemon_id if daemon_id else d.get("host") == host)
    ]
    fresh = sorted((d for d in mine if _age(d, now) <= within), key=lambda d: _age(d, now))
    if not fresh:
        if daemon_id:
            return Verdict(
                "silent", f"daemon {daemon_id} has not reported in the last {within:g} s"
            )
        return Verdict(
            "silent",
            f"no daemon on {host} has reported in the last {within:g} s{_elsewhere(daemons, host)}",
        )
    for daemon in fresh:
        if daemon.get("healthy") is True:
            return Verdict(
                "healthy",
                f"daemon {daemon['id']} reported {_age(daemon, now):.0f} s ago "
                f"(role {daemon.get('role', '?')}, generation {daemon.get('generation', '?')})",
            )
    return Verdict("storage", f"daemon {fresh[0]['id']} reports the storage unreachable")


def _age(daemon: dict[str, Any], now: float) -> float:
    seen = daemon.get("seen")
    # No time of its own: the storage still lists it, so it beat within its ttl.
    return max(0.0, now - seen) if isinstance(seen, int | float) else 0.0


def _elsewhere(daemons: Sequence[dict[str, Any]], host: str) -> str:
    """A hint when daemons report from other hosts: a host name mismatch is a common cause."""
    others = sorted({str(d.get("host")) for d in daemons} - {host})
    if not others:
        return ""
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f" (daemons report from {shown})"


def check(url: str, *, host: str, within: float, daemon_id: str | None) -> Verdict:
    """Read the daemons' reports from the storage at `url` and judge them."""
    from jobrunner.storage import StorageError, open_storage

    missing = _missing_sqlite_file(url)
    if missing is not None:
        return Verdict("silent", f"no daemon has created {missing} yet (check --storage)")
    try:
        store = open_storage(url)
        try:
            daemons = store.daemons()
        finally:
            store.close()
    except StorageError as exc:
        return Verdict("storage", f"storage unreachable: {exc}")
    return judge(daemons, host=host, now=time.time(), within=within, daemon_id=daemon_id)


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file `url` names when it does not exist (opening it would create it)."""
    if not url.lower().startswith("sqlite:///"):
        return None
    path = Path(url[len("sqlite:///") :])
    return None if path.exists() else path


def within_time(func: Callable[[], Verdict], timeout: float) -> Verdict:
    """`func()`, or a storage verdict if it has not answered within `timeout` seconds.

    A probe that hangs past its own timeout is reported without a reason,
    and counts as a failure even for liveness: better to answer in time.
    """
    box: list[Verdict | BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append(func())
        except BaseException as exc:  # re-raised below, in the command's thread
            box.append(exc)
        done.set()

    # A daemon thread: one stuck in a socket call does not hold up the exit.
    threading.Thread(target=target, name="health-check", daemon=True).start()
    if not done.wait(timeout):
        return Verdict("storage", f"the storage did not answer within {timeout:g} s")
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


@click.command()
@storage_url
@click.option(
    "--daemon-id",
    metavar="ID",
    help="Check this daemon (an ID from `jobrunner status`) instead of any daemon on this host.",
)
@click.option(
    "--lease",
    "within",
    default="30s",
    metavar="DURATION",
    show_default=True,
    envvar="JOBRUNNER_LEASE",
    callback=seconds,
    help="The daemon's --lease (also JOBRUNNER_LEASE): it reports every third of it, "
    "so a daemon silent for longer is down.",
)
@click.option(
    "--timeout",
    default="5s",
    metavar="DURATION",
    show_default=True,
    callback=seconds,
    help="Give up on the storage after this long (keep it below the probe's timeout).",
)
@click.option(
    "--liveness",
    is_flag=True,
    help="For liveness probes: fail only when the storage answers and the daemon has "
    "stopped reporting. A storage outage passes: the daemon rides it out on its own, "
    "and restarting it would not help.",
)
def health(
    storage: str,
    daemon_id: str | None,
    within: float,
    timeout: float,
    liveness: bool,
) -> None:
    """Exit 0 if the daemon on this host reports in and reaches its storage; else 1.

    Healthy means: a daemon whose host name is this host's (or the one
    --daemon-id names) has reported within its lease and says it can reach
    the storage. Otherwise one line on stderr says why, e.g. "no daemon on
    HOST has reported in the last 30 s" or "daemon ID reports the storage
    unreachable"; a storage this command cannot reach is unhealthy too.
    Run it with the daemon's environment (JOBRUNNER_STORAGE, JOBRUNNER_LEASE).

    \b
    Examples:
      HEALTHCHECK CMD ["jobrunner", "health"]              # container image
      exec: {command: [jobrunner, health]}                 # Kubernetes readinessProbe
      exec: {command: [jobrunner, health, --liveness]}     # Kubernetes livenessProbe
      jobrunner health --storage redis://jobs.internal:6379/0 --daemon-id web-1-4242-0a1b2c
    """
    host = socket.gethostname()
    verdict = within_time(
        lambda: check(storage, host=host, within=within, daemon_id=daemon_id), timeout
    )
    if verdict.kind == "healthy":
        click.echo(f"healthy: {verdict.reason}")
    elif liveness and verdict.kind == "storage":
        click.echo(
            f"alive: {verdict.reason} (the daemon retries on its own; not a liveness failure)"
        )
    else:
        click.echo(f"unhealthy: {verdict.reason}", err=True)
        raise SystemExit(UNHEALTHY)
