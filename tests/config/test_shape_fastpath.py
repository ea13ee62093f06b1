"""The fast shape check agrees with jsonschema on every corpus file and on fuzzed documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobrunner.config.shape import _validator, valid
from jobrunner.parse.document import parse

CORPUS = Path(__file__).parents[1] / "corpus"
FILES = sorted(p for p in CORPUS.rglob("*.y*ml") if p.is_file())


def agrees(data: Any) -> None:
    slow = not any(True for _ in _validator().iter_errors(data))
    assert valid(data) == slow, data


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus(path: Path) -> None:
    doc = parse(str(path), path.read_bytes())
    if doc.data is not None:
        agrees(doc.data)


KEYS = [
    "version",
    "queues",
    "cron",
    "defaults",
    "handler",
    "params",
    "schedule",
    "every",
    "timeout",
    "retry",
    "attempts",
    "jitter",
    "rate_limit",
    "concurrency",
    "x",
    "Bad Name",
    "q",
    "c",
    "priority",
    "payload_schema",
    "idempotency",
    "key",
    "ttl",
    "at",
    "suspend",
    "max_payload",
    "memory_limit",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 100),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            *("5m", "1h30m", "5 mins", "10/s", "high", "shell", "1", "0 * * * *", "36501d"),
            *("a" * 70, "256KiB", "4M", "1.5 GiB", "2000TiB"),
        ]
    ),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), st.lists(inner, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 2, "1"])},
        optional={
            "queues": st.dictionaries(st.sampled_from(["q", "emails", "Bad"]), DOCS, max_size=2),
            "cron": st.dictionaries(st.sampled_from(["c", "nightly"]), DOCS, max_size=2),
            "defaults": DOCS,
        },
    )
)
def test_fuzzed_documents(data: Any) -> None:
    agrees(yaml.safe_load(yaml.safe_dump(data)))
