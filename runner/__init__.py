"""jobrunner: declarative cron schedules and job queues, run by a Huey-based daemon.

The public API for plugin authors and applications.
"""

from jobrunner.client import Client, EnqueueError, JobInfo
from jobrunner.plugin import (
    CheckOptions,
    JobContext,
    ParamIssue,
    PermanentError,
    Plugin,
    RetryLater,
)
from jobrunner.version import __version__

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
