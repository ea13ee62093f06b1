"""The plugin contract: everything a handler plugin may import from jobrunner.

A plugin turns a job's payload into work: run a command, call an endpoint,
call a function. It declares the `params` it accepts as a JSON Schema, may
check them further at load time, and runs one attempt per `run` call. The
built-in plugins use nothing but this module, and register through the same
`jobrunner.plugins` entry-point group as third-party packages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

# Part of the contract: the job files' `{field}` templates over a payload, a walk
# over every string of a params value (for plugins that template them), sizes as
# job files write them, and `preexec_fn`s for child processes that must not
# outlive the daemon (`bound_to_parent`) or must also stay under the attempt's
# memory limit (`child_setup(ctx.memory_limit)`).
from jobrunner.orphans import bound_to_parent
from jobrunner.rlimit import child_setup
from jobrunner.values import size, template
from jobrunner.values.refs import walk_strings


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the job goes to the dead-letter queue."""


class RetryLater(Exception):
    """Raised by a handler to retry after `delay` (e.g. an HTTP `Retry-After`)."""

    def __init__(self, delay: float | timedelta, message: str = "") -> None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        super().__init__(message or f"retry requested in {seconds:g}s")
        self.delay = max(0.0, seconds)


class Cancelled(Exception):
    """The attempt was cancelled by an operator: recorded as `cancelled`, never retried.

    Raised by the worker's own runners (a killed `shell` command or isolated child); a
    cooperative handler that sees `ctx.cancelled` may raise it, or simply return.
    """


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What the validator was asked to check beyond the file itself."""

    check_imports: bool = False


@dataclass(frozen=True, slots=True)
class ParamIssue:
    """A problem a plugin found in its params; `path` is relative to `params`."""

    path: tuple[str | int, ...]
    message: str
    hint: str = ""
    warning: bool = False


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler knows about the attempt it runs."""

    job_id: str
    queue: str
    attempt: int
    deadline: float  # time.monotonic() value after which the attempt has failed
    idempotency_key: str | None = None
    trace_id: str = ""
    # The queue's `memory_limit` in bytes, or None: a plugin that starts processes applies
    # it to them with `preexec_fn=child_setup(ctx.memory_limit)`.
    memory_limit: int | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("jobrunner.job"))
    # Set by the worker when an operator cancels the job while this attempt runs.
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled: stop soon. A handler that runs long checks it
        between steps (`ctx.cancel_event.wait(t)` sleeps until it or `t` seconds); whatever
        it returns or raises afterwards, the attempt counts as cancelled."""
        return self.cancel_event.is_set()


class Plugin:
    """Base class of handler plugins.

    Subclasses set `name` and `params_schema`, may override `check` to report
    problems JSON Schema cannot express, and implement `run`.
    """

    name: ClassVar[str] = ""
    params_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}
    # True when `run` applies `ctx.memory_limit` to the processes it starts, so that
    # `memory_limit` works without `isolation: process` (validate refuses it otherwise).
    applies_memory_limit: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any]) -> None:
        """Prepare from validated params; raise `ValueError` to refuse them."""
        self.params = params

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        """Problems in `params` beyond its schema; called by `jobrunner validate`."""
        return iter(())

    def run(self, ctx: JobContext, payload: Any) -> Any:
        """Run one attempt; return a JSON-serialisable result or raise."""
        raise NotImplementedError(f"plugin {self.name!r} does not implement run()")


__all__ = [
    "Cancelled",
    "CheckOptions",
    "JobContext",
    "ParamIssue",
    "PermanentError",
    "Plugin",
    "RetryLater",
    "bound_to_parent",
    "child_setup",
    "size",
    "template",
    "walk_strings",
]
