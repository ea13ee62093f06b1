"""A point in time as operators type it on a command line: `2h` (that long ago) or an
ISO 8601 time such as `2026-12-06T09:30:00+01:00` or `2026-12-06` (UTC when no offset)."""

from __future__ import annotations

from datetime import UTC, datetime

from jobrunner.values import duration

EXPECTED = "a duration ago such as 30m, 2h or 1d, or an ISO 8601 time such as 2026-12-06T09:30Z"


def parse(text: str, now: float) -> float:
    """Epoch seconds; ValueError saying what is expected when `text` is neither form."""
    text = text.strip()
    try:
        return now - duration.parse(text).total_seconds()
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a time: expected {EXPECTED}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
