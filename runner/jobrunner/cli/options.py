"""Options shared by several commands, declared once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from jobrunner.storage import DEFAULT_URL

F = TypeVar("F", bound=Callable[..., Any])


def job_paths(func: F) -> F:
    """`PATH…` arguments: job files or directories, `jobs.d` when none is given."""
    return click.argument("paths", nargs=-1, type=click.Path(path_type=str), metavar="[PATH]...")(
        func
    )


def load_or_exit(paths: tuple[str, ...], **options: bool) -> Any:
    """Load the job files, or exit with a usage error naming a path that does not exist.

    For commands that report and end: what the load made is frozen for the
    rest of the process (see `collector`).
    """
    from jobrunner import config
    from jobrunner.config import collector

    try:
        with collector.paused(freeze=True):
            return config.load(paths or ("jobs.d",), config.Options(**options))
    except config.PathNotFound as exc:
        raise click.UsageError(
            f"{exc}: no such file or directory",
        ) from None


DEFAULT_STORAGE = DEFAULT_URL


def storage_url(func: F) -> F:
    """`--storage URL` (or JOBRUNNER_STORAGE): where jobs and state live."""
    return click.option(
        "--storage",
        "storage",
        envvar="JOBRUNNER_STORAGE",
        default=DEFAULT_STORAGE,
        show_default=True,
        metavar="URL",
        help="sqlite:///path/state.db (embedded) or redis://host:6379/0 (shared); "
        "also JOBRUNNER_STORAGE.",
    )(func)


def open_or_exit(url: str) -> Any:
    """Open the storage, or exit with a one-line message (exit 1) when it cannot be used."""
    from jobrunner.storage import StorageError, open_storage

    try:
        return open_storage(url)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


def seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """A click callback: a duration option (`30s`, `1m30s`) as seconds, or a usage error."""
    from jobrunner.values import duration

    try:
        return duration.parse(value).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def moment_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A `--since`/`--until` value as epoch seconds: `2h` (that long ago) or an ISO 8601 time."""
    from jobrunner.values import moment

    if value is None:
        return None
    try:
        return moment.parse(value, time.time())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
