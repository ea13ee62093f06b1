"""Options shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def job_paths(func: F) -> F:
    """`PATH…` arguments: job files or directories, `jobs.d` when none is given."""
    return click.argument("paths", nargs=-1, type=click.Path(path_type=str), metavar="[PATH]...")(
        func
    )


def load_or_exit(paths: tuple[str, ...], **options: bool) -> Any:
    """Load the job files, or exit with a usage error naming a path that does not exist."""
    from jobrunner import config

    try:
        return config.load(paths or ("jobs.d",), config.Options(**options))
    except config.PathNotFound as exc:
        raise click.UsageError(
            f"{exc}: no such file or directory",
        ) from None
