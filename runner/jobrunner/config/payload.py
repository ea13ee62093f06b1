"""A queue's `payload_schema`: a valid JSON Schema (2020-12), without misspelt keywords.

JSON Schema ignores keywords it does not know, so `requried: [to]` checks
nothing and every payload passes: such keywords draw a warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jobrunner.config import compiled
from jobrunner.parse.nodes import Path
from jobrunner.values.suggest import did_you_mean

if TYPE_CHECKING:  # imported when first needed: most schemas are judged without it
    from jsonschema.exceptions import SchemaError

REFERENCE = "see https://json-schema.org/understanding-json-schema/reference"
TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
# Keywords whose value is a schema, a mapping of schemas, or a list of schemas.
_SCHEMA = {"items", "contains", "additionalProperties", "propertyNames", "not", "if", "then"}
_SCHEMA |= {"else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
_SCHEMA_MAP = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
_PLAIN_SCHEMA_MAP = _SCHEMA_MAP - {"patternProperties"}  # its keys are regular expressions
_SCHEMA_LIST = {"allOf", "anyOf", "oneOf", "prefixItems"}
_ANNOTATIONS = {"$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$vocabulary"}
_ANNOTATIONS |= {"title", "description", "default", "examples", "deprecated", "readOnly"}
_ANNOTATIONS |= {"writeOnly", "contentEncoding", "contentMediaType"}
# The keywords jsonschema's Draft202012Validator validates (its `VALIDATORS`).
_VALIDATED = {"$dynamicRef", "$ref", "const", "dependentRequired", "enum", "exclusiveMaximum"}
_VALIDATED |= {"exclusiveMinimum", "format", "maxItems", "maxLength", "maxProperties"}
_VALIDATED |= {"maximum", "minItems", "minLength", "minProperties", "minimum", "multipleOf"}
_VALIDATED |= {"pattern", "required", "type", "uniqueItems"}
KEYWORDS = frozenset(_VALIDATED | _ANNOTATIONS | _SCHEMA | _SCHEMA_MAP | _SCHEMA_LIST)


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem at `path` inside a payload_schema."""

    path: Path
    message: str
    hint: str = ""
    warning: bool = False


def check(schema: Mapping[str, Any]) -> list[Issue]:
    """What is wrong with `schema`: why it is not a JSON Schema, or the keywords it misspells."""
    error = None if plainly_valid(schema) else _schema_error(_canonical(schema))
    if error is not None:
        message = f"payload_schema is not a valid JSON Schema: {_reworded(error)}"
        return [Issue(tuple(error.absolute_path), message, REFERENCE)]
    return list(_unknown_keywords(schema, ()))


def validator(schema: Mapping[str, Any]) -> compiled.Validator | None:
    """A validator for payloads, or None when `schema` is not a valid JSON Schema."""
    return _validator(_canonical(schema))


def _canonical(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, default=str)


@lru_cache(maxsize=4096)
def _validator(text: str) -> compiled.Validator | None:
    schema = json.loads(text)
    if not plainly_valid(schema) and _schema_error(text) is not None:
        return None
    return compiled.Validator(schema, text=text)


@lru_cache(maxsize=4096)
def _schema_error(text: str) -> SchemaError | None:
    """The metaschema check, once per distinct schema: it costs about a millisecond.

    Callers ask it only about a schema that is not `plainly_valid`.
    """
    schema = json.loads(text)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc
    return None


def plainly_valid(schema: Any, depth: int = 0) -> bool:
    """True only when `schema` is certainly a valid 2020-12 schema, judged in microseconds.

    It understands the everyday keywords and their value types; anything else
    (references, regular expressions, unusual values) answers False, and the
    full metaschema check decides.
    """
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or depth > 32:
        return False
    return all(_plain_keyword(key, value, depth) for key, value in schema.items())


def _plain_keyword(key: str, value: Any, depth: int) -> bool:
    check = _PLAIN.get(key)  # most keywords are these: looked up first
    if check is not None:
        return check(value)
    if key in _SCHEMA:
        return plainly_valid(value, depth + 1)
    if key in _PLAIN_SCHEMA_MAP:
        return isinstance(value, dict) and all(plainly_valid(v, depth + 1) for v in value.values())
    if key in _SCHEMA_LIST:
        return (
            isinstance(value, list)
            and bool(value)
            and all(plainly_valid(v, depth + 1) for v in value)
        )
    return key not in KEYWORDS  # an unknown keyword is allowed (and warned about elsewhere)


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _names(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value)
    )


def _type(value: Any) -> bool:
    if isinstance(value, str):
        return value in TYPES
    return _names(value) and bool(value) and all(v in TYPES for v in value)


_PLAIN: dict[str, Callable[[Any], bool]] = {
    "type": _type,
    "enum": lambda v: isinstance(v, list),
    "const": lambda v: True,
    "required": _names,
    "title": lambda v: isinstance(v, str),
    "description": lambda v: isinstance(v, str),
    "$comment": lambda v: isinstance(v, str),
    "default": lambda v: True,
    "examples": lambda v: isinstance(v, list),
    "deprecated": lambda v: isinstance(v, bool),
    "readOnly": lambda v: isinstance(v, bool),
    "writeOnly": lambda v: isinstance(v, bool),
    "uniqueItems": lambda v: isinstance(v, bool),
    "format": lambda v: isinstance(v, str),
    "multipleOf": lambda v: _number(v) and v > 0,
    "dependentRequired": lambda v: isinstance(v, dict) and all(_names(x) for x in v.values()),
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), _number),
    **dict.fromkeys(
        (
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minContains",
            "maxContains",
        ),
        _count,
    ),
}


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
