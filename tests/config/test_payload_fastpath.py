"""The fast path for payload schemas never calls an invalid schema valid."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from jobrunner.config.payload import check, plainly_valid

KEYWORDS = [
    "type",
    "enum",
    "const",
    "required",
    "title",
    "minimum",
    "maxLength",
    "items",
    "properties",
    "anyOf",
    "uniqueItems",
    "format",
    "multipleOf",
    "dependentRequired",
    "pattern",
    "$ref",
    "minItems",
    "additionalProperties",
    "not",
    "examples",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True),
    st.sampled_from(["string", "object", "integr", "x"]),
    st.lists(st.sampled_from(["a", "a", "b", "string", "number"]), max_size=3),
)


def schemas() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.booleans(), st.dictionaries(st.sampled_from(KEYWORDS), VALUES, max_size=4)),
        lambda inner: st.one_of(
            st.dictionaries(st.sampled_from(KEYWORDS), st.one_of(VALUES, inner), max_size=4),
            st.dictionaries(
                st.just("properties"),
                st.dictionaries(st.text(max_size=3), inner, max_size=3),
                max_size=1,
            ),
            st.dictionaries(
                st.sampled_from(["anyOf", "allOf"]), st.lists(inner, max_size=3), max_size=1
            ),
        ),
        max_leaves=8,
    )


@settings(max_examples=400, deadline=None, derandomize=True)
@given(schemas())
def test_plainly_valid_implies_valid(schema: Any) -> None:
    if plainly_valid(schema):
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:  # pragma: no cover - the property under test
            raise AssertionError(f"fast path accepted an invalid schema: {exc.message}") from exc


def test_everyday_schemas_take_the_fast_path() -> None:
    schema = {
        "title": "t",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "kind": {"enum": ["a", "b"]},
            "note": {"type": "string"},
        },
    }
    assert plainly_valid(schema)
    assert check(schema) == []
    assert check({"type": "strng"})[0].message.startswith("payload_schema is not a valid")
