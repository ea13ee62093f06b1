"""The jsonschema-rs fast path finds errors exactly where jsonschema does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jobrunner.config import compiled
from jobrunner_plugins.http import Http
from jobrunner_plugins.python import Python
from jobrunner_plugins.shell import Shell

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
    assert all(compiled.quick(schema) is not None for schema in SCHEMAS)


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}, 5),
        ({"prefixItems": [{"type": "string"}], "items": False}, ["a", "b"]),
        ({"properties": {"a": {"type": "integer"}}, "unevaluatedProperties": False}, {"b": 1}),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1}),
        ({"type": "integer"}, 1.5),
        ({"pattern": "^a$"}, "b"),
    ],
)
def test_2020_12_keywords_are_read_as_jsonschema_reads_them(schema: Any, instance: Any) -> None:
    expected = messages(Draft202012Validator(schema).iter_errors(instance))
    assert expected
    assert messages(compiled.Validator(schema).iter_errors(instance)) == expected


@pytest.mark.parametrize(
    "instance", [{1: "a number key"}, float("nan"), 10**40, {"a": {1, 2}}], ids=repr
)
def test_data_jsonschema_rs_cannot_read_goes_to_jsonschema(instance: Any) -> None:
    schema = {"type": "object"}
    expected = messages(Draft202012Validator(schema).iter_errors(instance))
    assert messages(compiled.Validator(schema).iter_errors(instance)) == expected


def test_a_pattern_only_python_reads_leaves_the_schema_to_jsonschema() -> None:
    schema = {"pattern": "(?P<name>a)(?P=name)"}  # a Python backreference
    assert compiled.quick(schema) is None
    assert messages(compiled.Validator(schema).iter_errors("aa")) == []


def test_python_accepts_what_only_its_dollar_accepts() -> None:
    # Python's `$` matches before a final newline, Rust's does not: jsonschema decides.
    assert messages(compiled.Validator({"pattern": "^a$"}).iter_errors("a\n")) == []
