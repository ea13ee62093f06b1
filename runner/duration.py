"""Durations as operators write them: `500ms`, `30s`, `5m`, `2h`, `1d`, `1h30m`, `1.5h`.

A bare number means seconds (`timeout: 90`). Units go from the largest to the
smallest and each appears once, so a value reads one way only.
"""

from __future__ import annotations

import re
from datetime import timedelta

# Compound form (`1d2h3m4s500ms`) or one decimal unit (`1.5h`). The same
# expression is published in the JSON Schema, so editors flag what we refuse.
PATTERN = (
    r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d)"
    r"|(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m(?!s))?(?:\d+s)?(?:\d+ms)?)$"
)
_FULL = re.compile(PATTERN)
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
EXPECTED = "a duration such as 500ms, 30s, 5m, 2h, 1d or 1h30m"


def parse(value: str | int | float) -> timedelta:
    """Parse a duration; raise `ValueError` with an operator-facing message."""
    if isinstance(value, bool):
        raise ValueError(f"expected {EXPECTED}, found {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, found {value}")
        return timedelta(seconds=value)
    text = value.strip()
    if not text or not _FULL.match(text):
        raise ValueError(f"invalid duration '{value}': expected {EXPECTED}")
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format(delta: timedelta) -> str:
    """The shortest compound text for a duration: 5400 s → `1h30m`."""
    total_ms = round(delta.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, total_ms = divmod(total_ms, size)
        if count:
            parts.append(f"{count}{unit}")
    if total_ms:
        parts.append(f"{total_ms}ms")
    return "".join(parts)
