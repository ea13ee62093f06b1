"""The access gate on its own: scopes, 401 and 403, open only on loopback without entries,
a token two entries share, and rotation through the token's reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import HTTPException

from jobrunner.config.model import Access, Source
from jobrunner.values.refs import Ref
from jobrunner.web.access import Gate
from jobrunner.web.secrets import REFRESH


def entry(name: str, variable: str, *scopes: str) -> Access:
    return Access(name, Ref("env", variable), frozenset(scopes), Source("a.yaml", 1, ()))


ENTRIES = {
    "reader": entry("reader", "READ", "read"),
    "operator": entry("operator", "OPERATE", "read", "operate"),
    "producer": entry("producer", "PRODUCE", "enqueue:work"),
}
ENV = {"READ": "r-token", "OPERATE": "o-token", "PRODUCE": "p-token"}


def status(gate: Gate, authorization: str | None, scope: str) -> int:
    try:
        gate.check(authorization, scope)
    except HTTPException as exc:
        return exc.status_code
    return 200


def gate(
    entries: dict[str, Access] = ENTRIES,
    environ: dict[str, str] = ENV,
    clock: Callable[[], float] = lambda: 0.0,
) -> Gate:
    return Gate(lambda: entries, exposed=False, environ=environ, clock=clock)


def test_each_scope_and_the_answers_without_one() -> None:
    g = gate()
    assert status(g, None, "read") == 401
    assert status(g, "Bearer nope", "read") == 401
    assert status(g, "Basic r-token", "read") == 401
    assert status(g, "Bearer r-token", "read") == 200
    assert status(g, "bearer  r-token ", "read") == 200
    assert status(g, "Bearer r-token", "operate") == 403
    assert status(g, "Bearer o-token", "operate") == 200
    assert status(g, "Bearer p-token", "enqueue:work") == 200
    assert status(g, "Bearer p-token", "enqueue:other") == 403
    assert status(g, "Bearer p-token", "read") == 403


def test_open_without_entries_on_loopback_and_closed_beyond_it() -> None:
    assert status(gate({}), None, "operate") == 200
    exposed = Gate(lambda: {}, exposed=True, environ=ENV)
    assert status(exposed, None, "read") == 401
    assert status(exposed, "Bearer r-token", "read") == 401


def test_a_token_two_entries_share_may_do_only_what_both_allow() -> None:
    env = {**ENV, "OPERATE": "r-token"}  # the on-call token pasted where the reader's goes
    g = gate(environ=env)
    assert status(g, "Bearer r-token", "read") == 200
    assert status(g, "Bearer r-token", "operate") == 403


def test_an_unresolvable_reference_matches_nothing_and_a_rotation_takes_over() -> None:
    env = {"READ": "r-token"}
    now = [0.0]
    g = gate(environ=env, clock=lambda: now[0])
    assert status(g, "Bearer r-token", "read") == 200
    assert status(g, "Bearer ", "read") == 401  # OPERATE and PRODUCE are unset: no empty match
    env["READ"] = "r-rotated"
    assert status(g, "Bearer r-token", "read") == 200  # read again only after REFRESH
    now[0] += REFRESH
    assert status(g, "Bearer r-token", "read") == 401
    assert status(g, "Bearer r-rotated", "read") == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer    ", "", "Token r-token"])
def test_malformed_authorization_is_401(header: str) -> None:
    assert status(gate(), header, "read") == 401
