"""Pins `values.size`: sizes as job files write them, their round trip, and the refusals.

Every expected number of bytes is worked out by hand (1 KiB = 1024 B, 1 kB = 1000 B).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobrunner.values import size

UNITS = ["B", "kB", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("256KiB", 262_144),  # 256 * 1024
        ("4MiB", 4_194_304),  # 4 * 1024^2
        ("1MB", 1_000_000),
        ("64kB", 64_000),
        ("64KB", 64_000),
        ("2GiB", 2_147_483_648),  # 2 * 1024^3
        ("1TB", 10**12),
        ("1048576", 1_048_576),  # a number alone is bytes
        ("512B", 512),
        ("512 MiB", 536_870_912),  # one space before the unit
        ("1.5GiB", 1_610_612_736),  # 1.5 * 1024^3
        ("0.5KiB", 512),
        ("1.0001kB", 1000),  # rounded down to whole bytes
        ("0", 0),
        (" 4MiB ", 4_194_304),  # as YAML may leave it
    ],
)
def test_written_sizes_parse_to_bytes(text: str, expected: int) -> None:
    assert size.parse(text) == expected


def test_an_integer_is_bytes() -> None:
    assert size.parse(1_048_576) == 1_048_576
    assert size.parse(0) == 0


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("4M", "'M' reads as 1000 or 1024 depending on the program: "
               "write 4MiB (powers of 1024) or 4MB (powers of 1000)"),
        ("512k", "'k' reads as 1000 or 1024 depending on the program: "
                 "write 512KiB (powers of 1024) or 512kB (powers of 1000)"),
        ("2Gi", "write it as 2GiB"),
        ("512 megabytes", "write it as 512MB"),
        ("1 mib", "write it as 1MiB"),
        ("1  MiB", "write it as 1MiB"),
        ("-1MiB", "a size cannot be negative"),
        ("MiB", "a size starts with a number, like 512KiB or 4MiB"),
        ("", "a size starts with a number, like 512KiB or 4MiB"),
        ("1.5", "a number of bytes is whole: for a fraction, use a larger unit, like 1.5KiB"),
        ("1.5B", "a number of bytes is whole: for a fraction, use a larger unit, like 1.5KiB"),
        ("5 furlongs", "unknown unit 'furlongs': use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB"),
        ("1,5MiB", "write a number, then a unit: 512KiB or 1.5GiB (a dot for decimals, "
                   "no separators)"),
    ],
)  # fmt: skip
def test_garbage_is_refused_with_the_expected_form_and_advice(text: str, advice: str) -> None:
    with pytest.raises(ValueError) as refused:
        size.parse(text)
    assert str(refused.value) == (
        f"invalid size '{text}': expected a size such as 512KiB, 4MiB, 1GB or a number of bytes"
    )
    assert size.advice(text) == advice


def test_values_out_of_range_or_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^a size cannot be negative, found -1$"):
        size.parse(-1)
    with pytest.raises(ValueError, match=r"^size '1025TiB' is over the largest size, 1024 TiB$"):
        size.parse("1025TiB")
    with pytest.raises(ValueError, match=r"over the largest size"):
        size.parse(1024**5 + 1)
    for wrong in (True, 1.5, None):
        with pytest.raises(ValueError, match="expected a size such as"):
            size.parse(wrong)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "text", "described"),
    [
        (0, "0 B", "0 bytes"),
        (1000, "1 kB", "1,000 bytes (1 kB)"),
        (1024, "1 KiB", "1,024 bytes (1 KiB)"),
        (1_048_576, "1 MiB", "1,048,576 bytes (1 MiB)"),
        (1_500_000, "1500 kB", "1,500,000 bytes (1500 kB)"),
        (1_000_001, "1000001 B", "1,000,001 bytes"),
        (16 * 1024**2, "16 MiB", "16,777,216 bytes (16 MiB)"),
    ],
)
def test_format_writes_the_largest_exact_unit(count: int, text: str, described: str) -> None:
    assert size.format(count) == text
    assert size.describe(count) == described


@given(st.integers(0, size.MAX))
def test_format_round_trips(count: int) -> None:
    text = size.format(count)
    assert size.parse(text) == count
    assert size.parse(text.replace(" ", "")) == count
    assert re.match(size.PATTERN, text)


@given(st.integers(0, 1024), st.sampled_from(UNITS), st.sampled_from(["", " "]))
def test_every_unit_multiplies_a_whole_number(count: int, unit: str, space: str) -> None:
    assert size.parse(f"{count}{space}{unit}") == count * size.UNITS[unit]


@given(st.text(max_size=12))
def test_anything_either_parses_in_range_or_is_refused_with_advice(text: str) -> None:
    try:
        parsed = size.parse(text)
    except ValueError as exc:
        assert str(exc).startswith(("invalid size", "size ")), exc
        assert size.advice(text)  # always something to do
    else:
        assert 0 <= parsed <= size.MAX
        assert re.match(size.PATTERN, text.strip())  # the published pattern agrees


@given(st.from_regex(size.PATTERN, fullmatch=True))
def test_what_the_published_pattern_admits_parses_or_is_out_of_range(text: str) -> None:
    try:
        assert 0 <= size.parse(text) <= size.MAX
    except ValueError as exc:
        assert "over the largest size" in str(exc)
