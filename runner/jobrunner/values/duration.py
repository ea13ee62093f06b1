"""Durations as operators write them: `500ms`, `30s`, `5m`, `2h`, `1d`, `1h30m`, `1.5h`.

A bare number means seconds (`timeout: 90`). Units go from the largest to the
smallest and each appears once, so a value reads one way only.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

# Compound form (`1d2h3m4s500ms`) or one decimal unit (`1.5h`). The same
# expression is published in the JSON Schema, so editors flag what we refuse.
PATTERN = (
    r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d)"
    r"|(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m(?!s))?(?:\d+s)?(?:\d+ms)?)$"
)
_FULL = re.compile(PATTERN)
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_MICROSECONDS = {
    "ms": 10**3,
    "s": 10**6,
    "m": 60 * 10**6,
    "h": 3600 * 10**6,
    "d": 86400 * 10**6,
}
EXPECTED = "a duration such as 500ms, 30s, 5m, 2h, 1d or 1h30m"
# The longest duration: ample for any retention, and far from where date
# arithmetic overflows (year 9999).
MAX = timedelta(days=36_500)
FORMAT = "jobrunner-duration"  # the JSON Schema `format` of a duration that parses
UNIT_WORDS = {  # how people write the units: `5 minutes`, `2 hrs`
    word: unit
    for unit, words in {
        "ms": ("msec", "msecs", "millisecond", "milliseconds"),
        "s": ("sec", "secs", "second", "seconds"),
        "m": ("min", "mins", "minute", "minutes"),
        "h": ("hr", "hrs", "hour", "hours"),
        "d": ("day", "days"),
    }.items()
    for word in (unit, *words)
}
_WORD = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse(value: str | int | float) -> timedelta:
    """Parse a duration; raise `ValueError` with an operator-facing message."""
    if isinstance(value, str):  # the usual case, checked first
        return _parse_text(value)
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"expected {EXPECTED}, found {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, found {value}")
        return _from_micros(value, Decimal(value) * 10**6)  # exact, unlike float past ~30 years
    return _parse_text(value)


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> timedelta:
    """A written duration: a job directory repeats a few dozen, so each is parsed once."""
    text = value.strip()
    if not text or not _FULL.match(text):
        raise ValueError(f"invalid duration '{value}': expected {EXPECTED}")
    parts = _PART.findall(text)
    micros = sum((Decimal(n) * _UNIT_MICROSECONDS[unit] for n, unit in parts), Decimal(0))
    return _from_micros(value, micros)


def _from_micros(value: str | int | float, micros: Decimal) -> timedelta:
    if micros > MAX // timedelta(microseconds=1):
        raise ValueError(
            f"duration {value!r} is longer than {format(MAX)}: expected {format(MAX)} or less"
        )
    return timedelta(microseconds=int(micros.to_integral_value()))


def advice(text: str) -> str:
    """What to change in a duration that does not parse: `5 minutes` → `write it as 5m`."""
    lowered = text.strip().lower()
    if lowered.startswith("-"):
        return "a duration cannot be negative"
    if not lowered[:1].isdigit():
        return "a duration starts with a number, like 30s or 5m"
    rewritten = _WORD.sub(lambda m: m[1] + UNIT_WORDS.get(m[2], m[2]), lowered)
    rewritten = rewritten.replace(" ", "").replace(",", "").replace("and", "")
    if _FULL.match(rewritten):
        return f"write it as {rewritten}"
    unknown = [u for u in re.findall(r"[a-z]+", lowered) if u not in UNIT_WORDS]
    if "w" in unknown or "week" in unknown or "weeks" in unknown:
        return "weeks are not a unit: write days, like 7d"
    if unknown:
        return f"unknown unit '{unknown[0]}': use ms, s, m, h or d"
    if lowered[-1:].isdigit():
        return "every number needs a unit, like 1m30s"
    return "write each unit once, from the largest to the smallest, like 1d2h30m"


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
