"""Rate limits as `N/s`, `N/m`, `N/h` or `N/d`: at most N jobs started per period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from jobrunner.values import duration

PATTERN = r"^[1-9][0-9]*/(?:s|m|h|d)$"
EXPECTED = "a rate such as 10/s, 100/m, 1000/h or 5000/d"
_RE = re.compile(r"^(\d+)/(s|m|h|d)$")
_PER = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*([a-z]+)\s*$")
_UNIT_WORDS = {word: unit for word, unit in duration.UNIT_WORDS.items() if unit != "ms"}
_PERIOD = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class RateLimit:
    count: int
    period: timedelta

    def __str__(self) -> str:
        unit = {v: k for k, v in _PERIOD.items()}[int(self.period.total_seconds())]
        return f"{self.count}/{unit}"


def parse(text: str) -> RateLimit:
    """Parse `100/s`; raise `ValueError` with an operator-facing message."""
    match = _RE.match(text)
    if not match:
        raise ValueError(f"invalid rate limit '{text}': expected {EXPECTED}")
    count = int(match.group(1))
    if count == 0:
        raise ValueError("a rate limit of 0 would never run a job: remove `rate_limit` or raise it")
    return RateLimit(count, timedelta(seconds=_PERIOD[match.group(2)]))


def advice(text: str) -> str:
    """What to change in a rate limit that does not parse: `100 per second` → `100/s`."""
    match = _PER.match(text.lower())
    unit = _UNIT_WORDS.get(match[2]) if match else None
    if match and unit:
        return f"write it as {int(match[1])}/{unit}"
    return "write a number of jobs, a slash and a unit of time: s, m, h or d"
