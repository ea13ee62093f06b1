"""Rate limits as `N/s`, `N/m`, `N/h` or `N/d`: at most N jobs started per period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

PATTERN = r"^[1-9][0-9]*/(?:s|m|h|d)$"
EXPECTED = "a rate such as 10/s, 100/m, 1000/h or 5000/d"
_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h|d)\s*$")
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
