"""Layer one: a document's shape against the job file schema, as problems with places.

jsonschema finds the errors; this module words them for operators (what was
found, what was expected, what to do) and places each on its line: unknown
keys on the key, with a suggestion, wrong values on the value.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from functools import cache
from typing import Any

from jobrunner.document import Document, Path
from jobrunner.jobschema import PATTERN_MEANINGS, structure
from jobrunner.problem import Problem
from jobrunner.suggest import did_you_mean
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_JSON_TYPES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(structure())


def check(doc: Document) -> list[tuple[Path, Problem]]:
    """Every shape problem in `doc`, one per mistake, with the path of the data at fault."""
    return [
        (tuple(error.absolute_path), problem)
        for error in _validator().iter_errors(doc.data)
        for problem in describe(doc, error)
    ]


def describe(doc: Document, error: ValidationError, base: Path = ()) -> Iterator[Problem]:
    """Turn one jsonschema error on data at `base` inside `doc` into problems."""
    path: Path = (*base, *error.absolute_path)
    kind = error.validator
    schema: Any = error.schema
    expected: Any = error.validator_value
    instance: Any = error.instance
    if "propertyNames" in error.relative_schema_path:
        name = str(instance)
        meaning = PATTERN_MEANINGS.get(str(expected), "a valid name")
        yield doc.problem(
            (*path, name), "name", f"invalid name '{name}': expected {meaning}", key=True
        )
    elif kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield doc.problem(
                    (*path, key),
                    "unknown-key",
                    f"unknown key '{key}'{did_you_mean(key, allowed)}",
                    f"allowed here: {', '.join(allowed)}" if allowed else "",
                    key=True,
                )
    elif kind == "required":
        for key in expected:
            if key not in instance:
                yield doc.problem(path, "missing-key", f"missing required key '{key}'", key=True)
    else:
        yield doc.problem(path, _code(kind), _message(error), _hint(error, path))


def _code(kind: object) -> str:
    return {"type": "type", "enum": "value", "const": "value", "pattern": "format"}.get(
        str(kind), "value"
    )


def _message(error: ValidationError) -> str:
    kind, found = error.validator, error.instance
    expected: Any = error.validator_value
    if kind == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {' or '.join(_JSON_TYPES[t] for t in wanted)}, found {_show(found)}"
    if kind == "enum":
        options = ", ".join(str(o) for o in expected)
        suggestion = did_you_mean(str(found), [str(o) for o in expected])
        return f"expected one of {options}; found {_show(found)}{suggestion}"
    if kind == "const" and error.absolute_path == deque(["version"]):
        return (
            f"unsupported version {json.dumps(found, default=str)}: expected {json.dumps(expected)}"
        )
    if kind == "const":
        return f"expected {json.dumps(expected)}, found {_show(found)}"
    if kind == "pattern":
        meaning = PATTERN_MEANINGS.get(str(expected), f"text matching {expected}")
        return f"invalid value {_show(found)}: expected {meaning}"
    if kind in ("minimum", "exclusiveMinimum"):
        return f"must be at least {expected}, found {_show(found)}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"must be at most {expected}, found {_show(found)}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "minItems":
        return f"needs at least {expected} item{'s' if expected != 1 else ''}"
    if kind == "uniqueItems":
        return "items must be unique"
    return str(error.message)


def _hint(error: ValidationError, path: Path) -> str:
    if error.validator == "const" and path == ("version",):
        return "this jobrunner reads version 1 files; upgrade jobrunner to read newer ones"
    return ""


def _show(value: Any) -> str:
    """A value as the operator would recognise it in their YAML."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__.replace('int', 'number').replace('float', 'number')} {value}"
