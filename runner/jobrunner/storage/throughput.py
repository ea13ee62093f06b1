"""Attempts per minute, for the charts: what `Storage.history` counted on the settle path,
one point a minute, oldest first. One read model for the dashboard and the API."""

from __future__ import annotations

from typing import Any

from jobrunner.storage.base import HISTORY_KEEP, Storage

FAILED = ("retried", "dead", "lost")  # outcomes counted as failures
MAX_MINUTES = HISTORY_KEEP // 60


def per_minute(
    storage: Storage, now: float, queue: str | None = None, minutes: int = 60
) -> dict[str, Any]:
    """`{"minutes": [epoch…], "succeeded": [n…], "failed": [n…], "total": {…}}` over the
    last `minutes` (at most a day), ending with the current minute; `queue` None: every
    queue. `failed` is retried, dead and lost; `total` has each outcome's sum (cancelled
    too) and `failed`."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes: from 1 to {MAX_MINUTES}, not {minutes}")
    start = (int(now) // 60 - (minutes - 1)) * 60
    ok, failed = [0] * minutes, [0] * minutes
    total = {"succeeded": 0, "retried": 0, "dead": 0, "lost": 0, "cancelled": 0}
    for tally in storage.history(queue, start):
        slot = (tally.minute - start) // 60
        if not 0 <= slot < minutes or tally.outcome not in total:
            continue  # a minute after now (clock skew between hosts), or a stray outcome
        total[tally.outcome] += tally.attempts
        if tally.outcome == "succeeded":
            ok[slot] += tally.attempts
        elif tally.outcome in FAILED:
            failed[slot] += tally.attempts
    total["failed"] = sum(total[outcome] for outcome in FAILED)
    return {
        "minutes": [start + 60 * i for i in range(minutes)],
        "succeeded": ok,
        "failed": failed,
        "total": total,
    }
