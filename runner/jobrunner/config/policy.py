"""An entry's policy: its own keys, over its file's `defaults:`, over the built-in defaults.

Pure: the values come in with their shape checked (durations parse, enums
hold), so merging cannot fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from jobrunner.config.model import Policy, Priority, RetryPolicy
from jobrunner.values import duration, size

_BUILT_IN = Policy()
_BUILT_IN_RETRY = RetryPolicy()


def merge(own: Mapping[str, Any], defaults: Mapping[str, Any]) -> Policy:
    """The policy of an entry with keys `own` in a file with `defaults`."""
    merged = {**defaults, **own}  # only policy keys are read from it
    base = _BUILT_IN
    return Policy(
        timeout=_duration(merged.get("timeout"), base.timeout),
        isolation=merged.get("isolation", base.isolation),
        retry=_retry({**defaults.get("retry", {}), **own.get("retry", {})}),
        priority=Priority(merged.get("priority", base.priority.value)),
        dead_letter_retain=_duration(
            merged.get("dead_letter", {}).get("retain"), base.dead_letter_retain
        ),
        retain_completed=_duration(merged.get("retain_completed"), base.retain_completed),
        max_deliveries=merged.get("max_deliveries", base.max_deliveries),
        memory_limit=_size(merged.get("memory_limit")),
    )


def retry_conflict(own: Mapping[str, Any], defaults: Mapping[str, Any]) -> str | None:
    """Why the `own` retry settings over `defaults` make no sense, if they set a delay."""
    if "delay" not in own and "max_delay" not in own:
        return None
    retry = _retry({**defaults, **own})
    if retry.max_delay >= retry.delay:
        return None
    return (
        f"retry max_delay {duration.format(retry.max_delay)} is below its delay "
        f"{duration.format(retry.delay)}: every retry waits the max_delay"
    )


def _retry(raw: Mapping[str, Any]) -> RetryPolicy:
    base = _BUILT_IN_RETRY
    return RetryPolicy(
        attempts=raw.get("attempts", base.attempts),
        backoff=raw.get("backoff", base.backoff),
        delay=_duration(raw.get("delay"), base.delay),
        max_delay=_duration(raw.get("max_delay"), base.max_delay),
        jitter=float(raw.get("jitter", base.jitter)),
    )


def _duration(value: str | int | None, default: timedelta) -> timedelta:
    return default if value is None else duration.parse(value)


def _size(value: str | int | None) -> int | None:
    return None if value is None else size.parse(value)
