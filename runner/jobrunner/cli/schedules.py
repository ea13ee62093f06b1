"""`jobrunner schedules`: when each cron entry fires, in words and as times."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING

import click

from jobrunner.cli import exits
from jobrunner.cli.options import job_paths, load_or_exit

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

FIRST_YEAR, LAST_YEAR = 1970, 9000


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from jobrunner.values.schedule import parse_at

    if value is None:
        return None
    try:
        when = parse_at(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not FIRST_YEAR <= when.year < LAST_YEAR:  # far from datetime's limits in any zone
        raise click.BadParameter(
            f"time '{value}' is out of range: give a year from {FIRST_YEAR} to {LAST_YEAR - 1}"
        )
    return when


def _zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        raise click.BadParameter(
            f"unknown time zone '{value}': use an IANA name like Europe/Berlin"
        ) from None
    return value


@click.command()
@job_paths
@click.option(
    "--next",
    "count",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="How many upcoming fire times to list per entry.",
)
@click.option(
    "--tz",
    "zone",
    callback=_zone,
    metavar="ZONE",
    help="Show times in this IANA zone (default: each entry's own zone).",
)
@click.option(
    "--from",
    "start",
    callback=_instant,
    metavar="TIME",
    help="List fire times after this RFC 3339 time instead of now.",
)
def schedules(paths: tuple[str, ...], count: int, zone: str | None, start: datetime | None) -> None:
    """Show each cron entry's schedule in words and its next fire times.

    Entries of files with errors are left out; their problems are printed
    on standard error and the exit status is 1.

    \b
    Examples:
      jobrunner schedules                          # ./jobs.d, next 5 times each
      jobrunner schedules jobs.d --next 10 --tz Europe/Berlin
      jobrunner schedules --from 2026-03-29T00:00:00Z   # check a DST change
    """
    from jobrunner.cli import report
    from jobrunner.problem import has_errors

    loaded = load_or_exit(paths)
    if loaded.problems:
        click.echo(report.text(loaded.problems), err=True)
    click.echo(render(loaded.config, start or datetime.now().astimezone(), count, zone))
    raise SystemExit(exits.INVALID if has_errors(loaded.problems) else exits.OK)


def render(config: object, start: datetime, count: int, zone: str | None) -> str:
    """The listing, one block per cron entry, sorted by name."""
    from zoneinfo import ZoneInfo

    from jobrunner.config.model import Config, Enqueue
    from jobrunner.values import schedule

    assert isinstance(config, Config)
    if not config.crons:
        return "no cron entries"
    blocks = []
    for name in sorted(config.crons):
        cron = config.crons[name]
        target = (
            f"enqueue into {cron.target.queue}"
            if isinstance(cron.target, Enqueue)
            else f"run {cron.target.plugin}"
        )
        state = "  [suspended: does not fire]" if cron.suspend else ""
        lines = [
            f"{name}  ({cron.source.file}:{cron.source.line}, {target}){state}",
            f"  {schedule.explain(cron.schedule)}",
        ]
        own = cron.schedule.timezone if isinstance(cron.schedule, schedule.Cron) else "UTC"
        shown = ZoneInfo(zone or own)
        times = schedule.upcoming(cron.schedule, start, count)  # suspended: as if resumed
        lines += [f"  {_when(t, shown)}" for t in times]
        if not times:
            lines.append("  (no future fire times)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _when(t: datetime, zone: ZoneInfo) -> str:
    with contextlib.suppress(OverflowError):  # past 9999-12-31 there: keep UTC
        t = t.astimezone(zone)
    return f"{t.isoformat(sep=' ')} {t.tzname()}"
