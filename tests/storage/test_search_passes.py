"""`search.passes`: what a backend may skip before it builds a record, and what it must not."""

from __future__ import annotations

import json

import pytest

from jobrunner.job import Job, Record, State
from jobrunner.storage.search import Match, Query, passes

RECORD = Record(Job("j1", "q", {"customer": {"id": 42}}), State.DEAD).encode()
MESSAGE = Job("j2", "q", {"customer": {"id": 7}}).encode()


def test_a_state_outside_the_filter_is_refused_before_decoding() -> None:
    dead = Query(states=frozenset({State.DEAD}))
    assert passes(dead, "dead", RECORD) and passes(dead, b"dead", RECORD)
    assert not passes(dead, "succeeded", RECORD) and not passes(dead, b"queued", None)
    assert passes(Query(), "succeeded", RECORD)  # no state filter


@pytest.mark.parametrize("state", ["nonsense", b"\xff\xfe", 7, None])
def test_a_state_that_does_not_read_is_left_to_the_record(state: object) -> None:
    """The record built then is the unreadable one, shown as dead: never skipped here."""
    assert passes(Query(states=frozenset({State.DEAD})), state, RECORD)


def test_the_payload_of_a_record_or_of_a_message_is_matched() -> None:
    customer = Query(match=Match.parse("customer.id", 42))
    assert passes(customer, "dead", RECORD)
    assert not passes(customer, "queued", MESSAGE)  # id 7
    assert passes(Query(match=Match.parse("customer.id", 7)), "queued", MESSAGE)
    assert not passes(Query(match=Match.parse("customer.id", "42")), "dead", RECORD)


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", json.dumps({"job": {}}).encode(), b'{"x": 1}', None]
)
def test_json_that_does_not_read_is_left_to_the_record(raw: bytes | None) -> None:
    assert passes(Query(match=Match.parse("customer.id", 42)), "dead", raw)
