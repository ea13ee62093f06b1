"""A queue's `payload_schema`: a valid JSON Schema (2020-12), without misspelt keywords.

JSON Schema ignores keywords it does not know, so `requried: [to]` checks
nothing and every payload passes: such keywords draw a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from jobrunner.nodes import Path
from jobrunner.suggest import did_you_mean

REFERENCE = "see https://json-schema.org/understanding-json-schema/reference"
TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
# Keywords whose value is a schema, a mapping of schemas, or a list of schemas.
_SCHEMA = {"items", "contains", "additionalProperties", "propertyNames", "not", "if", "then"}
_SCHEMA |= {"else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
_SCHEMA_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_SCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_ANNOTATIONS = {"$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$vocabulary"}
_ANNOTATIONS |= {"title", "description", "default", "examples", "deprecated", "readOnly"}
_ANNOTATIONS |= {"writeOnly", "contentEncoding", "contentMediaType"}
KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | _ANNOTATIONS | _SCHEMA
KEYWORDS |= _SCHEMA_MAP | _SCHEMA_LIST


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem at `path` inside a payload_schema."""

    path: Path
    message: str
    hint: str = ""
    warning: bool = False


def check(schema: Mapping[str, Any]) -> list[Issue]:
    """What is wrong with `schema`: why it is not a JSON Schema, or the keywords it misspells."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        message = f"payload_schema is not a valid JSON Schema: {_reworded(exc)}"
        return [Issue(tuple(exc.absolute_path), message, REFERENCE)]
    return list(_unknown_keywords(schema, ()))


def validator(schema: Mapping[str, Any]) -> Draft202012Validator | None:
    """A validator for payloads, or None when `schema` is not a valid JSON Schema."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return Draft202012Validator(schema)


def _reworded(exc: SchemaError) -> str:
    """jsonschema's complaint about a schema, reworded where it is cryptic."""
    found = exc.instance
    if exc.absolute_path and exc.absolute_path[-1] == "type" and not isinstance(found, list):
        shown = f"'{found}'" if isinstance(found, str) else json.dumps(found)
        suggestion = did_you_mean(found, TYPES) if isinstance(found, str) else ""
        return f"{shown} is not a type: expected one of {', '.join(TYPES)}{suggestion}"
    return str(exc.message)


def _unknown_keywords(schema: Any, path: Path) -> Iterator[Issue]:
    if not isinstance(schema, Mapping):
        return
    for key, value in schema.items():
        if key in _SCHEMA_MAP and isinstance(value, Mapping):
            for name, sub in value.items():
                yield from _unknown_keywords(sub, (*path, key, name))
        elif key in _SCHEMA_LIST and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _unknown_keywords(sub, (*path, key, index))
        elif key in _SCHEMA:
            yield from _unknown_keywords(value, (*path, key))
        elif key not in KEYWORDS and not key.startswith("x-"):
            yield Issue(
                (*path, key),
                f"unknown JSON Schema keyword '{key}'{did_you_mean(key, KEYWORDS)}",
                "JSON Schema ignores keywords it does not know, so this one checks nothing; "
                "prefix a note of your own with x-",
                warning=True,
            )
