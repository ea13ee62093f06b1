"""jobrunner: declarative cron schedules and job queues, run by a Huey-based daemon.

The public API for plugin authors and applications.
"""

from typing import TYPE_CHECKING, Any

from jobrunner.plugin import (
    CheckOptions,
    JobContext,
    ParamIssue,
    PermanentError,
    Plugin,
    RetryLater,
)
from jobrunner.version import __version__

if TYPE_CHECKING:
    from jobrunner.client import Client, EnqueueError, JobInfo

_CLIENT_NAMES = {"Client", "EnqueueError", "JobInfo"}


def __getattr__(name: str) -> Any:
    """The client API, imported on first use: the CLI's own commands start faster without it."""
    if name in _CLIENT_NAMES:
        from jobrunner import client

        return getattr(client, name)
    raise AttributeError(f"module 'jobrunner' has no attribute {name!r}")


__all__ = [
    "CheckOptions",
    "Client",
    "EnqueueError",
    "JobContext",
    "JobInfo",
    "ParamIssue",
    "PermanentError",
    "Plugin",
    "RetryLater",
    "__version__",
]
