"""The compiled fast path never calls invalid data valid; draft-specific schemas skip it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jobrunner import compiled
from jobrunner.plugins.http import Http
from jobrunner.plugins.python import Python
from jobrunner.plugins.shell import Shell

SCHEMAS = [Http.params_schema, Python.params_schema, Shell.params_schema]
KEYS = ["url", "method", "headers", "body", "command", "shell", "env", "cwd", "callable", "x"]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 300),
    st.floats(allow_nan=False),
    st.sampled_from(["", "GET", "POST", "/bin/true", "a.b:c", "https://x/{id}", "a\n"]),
)
DATA = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=10,
)


def messages(errors: Any) -> list[str]:
    return sorted(error.message for error in errors)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: str(s.get("description")))
@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.dictionaries(st.sampled_from(KEYS), DATA, max_size=4))
def test_same_errors_as_jsonschema(schema: Any, data: Any) -> None:
    expected = messages(Draft202012Validator(schema).iter_errors(data))
    assert messages(compiled.Validator(schema).iter_errors(data)) == expected


def test_built_in_params_take_the_fast_path() -> None:
    assert all(compiled.same_in_draft7(schema) for schema in SCHEMAS)


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}},
        {"prefixItems": [{"type": "string"}]},
        {"properties": {"a": {"unevaluatedProperties": False}}},
        {"items": [{"type": "string"}]},
        {"dependentRequired": {"a": ["b"]}},
    ],
)
def test_keywords_that_changed_after_draft7_leave_it_to_jsonschema(schema: Any) -> None:
    assert not compiled.same_in_draft7(schema)
