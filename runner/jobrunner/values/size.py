"""Sizes as operators write them: `512B`, `64kB`, `256KiB`, `4MiB`, `1MB`, `1.5GiB`, `1048576`.

A bare integer is bytes (`max_payload: 1048576`). The binary units KiB, MiB,
GiB and TiB are powers of 1024, the decimal ones kB (or KB), MB, GB and TB
powers of 1000; one space may separate the number from its unit (`512 MiB`).
A lone `K`, `M` or `G` is refused: some programs read it as 1000, others as
1024, and a limit must read one way only. A decimal number takes a unit
(`1.5GiB`) and is rounded down to whole bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal

# The same expression is published in the JSON Schema, so editors flag what we refuse.
PATTERN = r"^(?:[0-9]+(?: ?B)?|[0-9]+(?:\.[0-9]+)? ?(?:[kKMGT]B|[KMGT]iB))$"
_FULL = re.compile(PATTERN)
_PARTS = re.compile(r"([0-9.]+) ?([A-Za-z]*)")
UNITS = {
    "B": 1,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
EXPECTED = "a size such as 512KiB, 4MiB, 1GB or a number of bytes"
# The largest size: far above any memory or payload, far below what RLIMIT_AS
# (2^63) and a JSON number that every reader keeps exactly (2^53) can hold.
MAX = 1024**5
FORMAT = "jobrunner-size"  # the JSON Schema `format` of a size that parses
_SHOWN = ("TiB", "TB", "GiB", "GB", "MiB", "MB", "KiB", "kB")  # largest first
_WORDS = {  # how people write the units: `512 megabytes`, `4 mib`, `2Gi` (Kubernetes)
    word: unit
    for unit, words in {
        "B": ("b", "byte", "bytes"),
        "kB": ("kb", "kilobyte", "kilobytes"),
        "MB": ("mb", "megabyte", "megabytes"),
        "GB": ("gb", "gigabyte", "gigabytes"),
        "TB": ("tb", "terabyte", "terabytes"),
        "KiB": ("kib", "ki", "kibibyte", "kibibytes"),
        "MiB": ("mib", "mi", "mebibyte", "mebibytes"),
        "GiB": ("gib", "gi", "gibibyte", "gibibytes"),
        "TiB": ("tib", "ti", "tebibyte", "tebibytes"),
    }.items()
    for word in words
}
_AMBIGUOUS = {"k": ("KiB", "kB"), "m": ("MiB", "MB"), "g": ("GiB", "GB"), "t": ("TiB", "TB")}


def parse(value: str | int) -> int:
    """Parse a size into bytes; raise `ValueError` with an operator-facing message."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected {EXPECTED}, found {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, found {value}")
        return _checked(value, value)
    text = value.strip()
    parts = _PARTS.fullmatch(text)
    if parts is None or not _FULL.match(text):
        raise ValueError(f"invalid size '{value}': expected {EXPECTED}")
    number, unit = parts.groups()
    return _checked(value, int(Decimal(number) * UNITS[unit or "B"]))


def _checked(value: str | int, size: int) -> int:
    if size > MAX:
        raise ValueError(f"size {value!r} is over the largest size, {format(MAX)}")
    return size


def format(size: int) -> str:
    """The shortest text for a number of bytes that parses back to it: 1048576 → `1 MiB`."""
    for unit in _SHOWN:
        count, rest = divmod(size, UNITS[unit])
        if size and not rest:
            return f"{count} {unit}"
    return f"{size} B"


def describe(size: int) -> str:
    """A size for messages: `262,144 bytes (256 KiB)`, or `1,000,001 bytes`."""
    shown = format(size)
    return f"{size:,} bytes" if shown.endswith(" B") else f"{size:,} bytes ({shown})"


def advice(text: str) -> str:
    """What to change in a size that does not parse: `512 megabytes` → `write it as 512MB`."""
    written = text.strip()
    if written.startswith("-"):
        return "a size cannot be negative"
    if not written[:1].isdigit():
        return "a size starts with a number, like 512KiB or 4MiB"
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)", written)
    if match is None:
        return "write a number, then a unit: 512KiB or 1.5GiB (a dot for decimals, no separators)"
    number, word = match.groups()
    if not word or word == "B":
        return "a number of bytes is whole: for a fraction, use a larger unit, like 1.5KiB"
    if word.lower() in _AMBIGUOUS:
        binary, decimal = _AMBIGUOUS[word.lower()]
        return (
            f"'{word}' reads as 1000 or 1024 depending on the program: "
            f"write {number}{binary} (powers of 1024) or {number}{decimal} (powers of 1000)"
        )
    unit = word if word in UNITS else _WORDS.get(word.lower())
    if unit is not None and _FULL.match(f"{number}{unit}"):
        return f"write it as {number}{unit}"
    return f"unknown unit '{word}': use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB"
