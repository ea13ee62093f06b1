"""Running one attempt of one job: resolve secrets, call the plugin, judge the outcome.

Handler params come from the configuration in force now, with `${env:…}` and
`${file:…}` resolved here, in the worker, at run time: they never enter the
storage or the logs. Plugin instances are kept per (plugin, resolved params),
so a rotated secret file takes effect without a reload.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobrunner.config.model import Handler, thaw
from jobrunner.job import Job
from jobrunner.plugin import Cancelled, JobContext, PermanentError, Plugin, RetryLater
from jobrunner.registry import Registry
from jobrunner.values import refs, size
from jobrunner.worker import isolation
from jobrunner.worker.lane import Lane
from jobrunner.worker.retry import Status

MAX_TRACEBACK = 4000
FIXED_MAX = 4096  # handlers remembered by `Plugins.instance` before it starts over


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    started: float
    ended: float
    result: Any = None
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    retry_after: float = 0.0


class SetupError(Exception):
    """The handler cannot be prepared (missing secret, plugin refused its params)."""


SETUP_ERROR = isolation.SETUP_ERROR  # an attempt's error_type when its handler was not set up


class Plugins:
    """Plugin instances for the handlers of the configuration in force."""

    def __init__(
        self,
        registry: Registry,
        environ: Mapping[str, str] = os.environ,
        read_file: Callable[[str], str] = lambda p: Path(p).read_text(encoding="utf-8"),
    ) -> None:
        self.registry = registry
        self._environ, self._read_file = environ, read_file
        self._instances: dict[tuple[str, str], Plugin] = {}
        # By id: a handler whose params hold no reference (nothing to resolve, so its
        # instance never changes) and its instance, so its jobs skip resolving and keying.
        self._fixed: dict[int, tuple[Handler, Plugin]] = {}

    def resolved(self, handler: Handler) -> tuple[type[Plugin], Any]:
        """The plugin class and its params with every secret reference resolved."""
        cls = self.registry.plugins.get(handler.plugin)
        if cls is None:
            why = self.registry.broken.get(handler.plugin, "it is not installed")
            raise SetupError(f"plugin '{handler.plugin}' is not available: {why}")
        return cls, self._resolve(thaw(handler.params))

    def instance(self, handler: Handler) -> Plugin:
        """The plugin instance for `handler`'s params as they resolve now: made once for
        each distinct set (a rotated secret makes a new one)."""
        fixed = self._fixed.get(id(handler))
        if fixed is not None and fixed[0] is handler:
            return fixed[1]
        cls, params = self.resolved(handler)
        key = (handler.plugin, json.dumps(params, sort_keys=True))
        plugin = self._instances.get(key)
        if plugin is None:
            try:
                plugin = cls(params)
            except (ValueError, TypeError, OSError, ImportError) as exc:
                raise SetupError(f"plugin '{handler.plugin}' refused its params: {exc}") from None
            self._instances[key] = plugin
        if not any("${" in text for _, text in refs.walk_strings(handler.params)):
            if len(self._fixed) >= FIXED_MAX:  # handlers of configurations long replaced
                self._fixed.clear()
            self._fixed[id(handler)] = (handler, plugin)
        return plugin

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return refs.substitute(
                    value, lambda ref: refs.resolve(ref, self._environ, self._read_file)
                )
            except (LookupError, ValueError) as exc:
                raise SetupError(str(exc)) from None
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value


def run(lane: Lane, job: Job, plugins: Plugins, cancel: threading.Event | None = None) -> Outcome:
    """One attempt of `job` in `lane`; never raises for a handler's failure.

    `cancel` is set when an operator cancels the job: a `shell` command or an isolated
    child is killed, an in-process handler sees `ctx.cancelled`; the attempt is then
    `cancelled`, whatever the handler returned or raised.
    """
    cancel = cancel if cancel is not None else threading.Event()
    started = time.time()
    timeout = lane.policy.timeout.total_seconds()
    deadline = time.monotonic() + timeout
    try:
        ctx = JobContext(
            job.id,
            lane.name,
            job.attempt,
            deadline,
            job.idempotency_key,
            job.trace_id,
            memory_limit=lane.policy.memory_limit,
            cancel_event=cancel,
        )
        if lane.policy.isolation == "process":
            _, params = plugins.resolved(lane.handler)
            result = isolation.run(lane.handler.plugin, params, ctx, job.payload)
        else:
            result = plugins.instance(lane.handler).run(ctx, job.payload)
    except Exception as exc:
        return _judged(exc, started, cancel)
    ended = time.time()
    if cancel.is_set():
        return _cancelled(started)
    if time.monotonic() > deadline:
        return Outcome(
            Status.TIMEOUT,
            started,
            ended,
            error_type="TimeoutError",
            error=f"ran {ended - started:.1f}s, over its timeout of {timeout:g}s",
        )
    return _succeeded(started, ended, result)


def _cancelled(started: float, exc: BaseException | None = None) -> Outcome:
    what = f" ({type(exc).__name__}: {exc})" if exc and not isinstance(exc, Cancelled) else ""
    return Outcome(
        Status.CANCELLED,
        started,
        time.time(),
        error_type="Cancelled",
        error=f"cancelled by an operator while it ran{what}",
    )


def _judged(exc: Exception, started: float, cancel: threading.Event) -> Outcome:
    """The outcome of an attempt whose handler raised `exc`."""
    if cancel.is_set() or isinstance(exc, Cancelled):
        return _cancelled(started, exc)
    if isinstance(exc, PermanentError):
        return _failed(Status.PERMANENT, started, exc)
    if isinstance(exc, RetryLater):
        return _failed(Status.RETRY_LATER, started, exc, retry_after=exc.delay)
    if isinstance(exc, TimeoutError):
        return _failed(Status.TIMEOUT, started, exc)
    return _failed(Status.FAILED, started, exc)


def _succeeded(started: float, ended: float, result: Any) -> Outcome:
    """What the handler returned, kept as the job's result unless it is too large to keep."""
    try:
        stored = _stored(result)
    except PermanentError as exc:
        return _failed(Status.PERMANENT, started, exc)
    return Outcome(Status.SUCCEEDED, started, ended, result=stored)


def _failed(
    status: Status, started: float, exc: BaseException, retry_after: float = 0.0
) -> Outcome:
    summary = getattr(exc, "remote_traceback", "") or "".join(
        traceback.format_exception(exc, limit=-4)
    )
    return Outcome(
        status,
        started,
        time.time(),
        error_type=getattr(exc, "type_name", type(exc).__name__),
        error=str(exc),
        traceback=summary[-MAX_TRACEBACK:],
        retry_after=retry_after,
    )


def _stored(result: Any) -> Any:
    """The result as the job keeps it (its repr if it is not JSON), bounded like an
    isolated handler's: over `isolation.MAX_ANSWER` bytes of JSON fails the job for good."""
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        result = repr(result)
        text = json.dumps(result)
    except RecursionError:
        raise PermanentError("the handler's result is nested too deeply to store") from None
    if len(text) > isolation.MAX_ANSWER:  # ASCII: json.dumps escapes the rest
        raise PermanentError(
            f"the handler's result is {len(text):,} bytes of JSON, over the limit of "
            f"{size.describe(isolation.MAX_ANSWER)}: store large results elsewhere "
            "and return a reference to them"
        )
    return result
