"""Layer one: a document's shape against the job file schema, as problems with places.

jsonschema finds the errors; this module words them for operators (what was
found, what was expected, what to do) and places each on its line: unknown
keys on the key, with a suggestion, wrong values on the value. `usable`
keeps the parts of an entry whose shape is right, so the next layer can still
check them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from jobrunner.config import compiled
from jobrunner.config.schema import CRON_KEYS, QUEUE_KEYS, structure
from jobrunner.parse.document import Document, Path
from jobrunner.problem import Problem
from jobrunner.values import duration, names, rate, size
from jobrunner.values.suggest import did_you_mean

if TYPE_CHECKING:  # imported when first needed: only files with shape errors need it
    from jsonschema import Draft202012Validator, FormatChecker
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
# Keys that are valid somewhere, for "`concurrency` is a queue key" hints.
_HOMES = (("a queue", QUEUE_KEYS), ("a cron entry", CRON_KEYS))
_BOOLEAN_WORDS = {"true", "false", "yes", "no", "on", "off"}
_MISSING_HINTS = {
    "version": "add `version: 1` as the first line of the file",
    "handler": "name the plugin that runs the jobs, like `handler: shell`",
    "token": 'reference the token, like `token: "${env:API_TOKEN}"`',
    "scopes": "list what the token may do, like `scopes: [read]`",
    "events": "list the events to route, like `events: [job.dead]`",
    "queue": "name the queue its jobs go into, like `queue: notify`",
}


def _duration_fits(value: object) -> bool:
    """A duration of the right form is also in range; the form is the pattern's to check."""
    if isinstance(value, str) and re.match(duration.PATTERN, value):
        duration.parse(value)
    return True


def _size_fits(value: object) -> bool:
    """A size of the right form is also in range, like a duration."""
    if isinstance(value, str) and re.match(size.PATTERN, value):
        size.parse(value)
    return True


@cache
def _formats() -> FormatChecker:
    from jsonschema import FormatChecker

    formats = FormatChecker(formats=())
    formats.checks(duration.FORMAT, raises=ValueError)(_duration_fits)
    formats.checks(size.FORMAT, raises=ValueError)(_size_fits)
    return formats


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(structure(), format_checker=_formats())


def _duration_in_range(value: object) -> bool:
    try:
        return _duration_fits(value)
    except ValueError:
        return False


def _size_in_range(value: object) -> bool:
    try:
        return _size_fits(value)
    except ValueError:
        return False


@cache
def _quick() -> compiled.Quick | None:
    """The same schema in jsonschema-rs: some 40 times faster on valid files."""
    formats = {duration.FORMAT: _duration_in_range, size.FORMAT: _size_in_range}
    return compiled.quick(structure(), formats)


def valid(data: Any) -> bool:
    """Whether `data` certainly has the shape of a job file (the fast path of `check`)."""
    quick = _quick()
    return quick is not None and quick(data)


def check(doc: Document) -> list[tuple[Path, Problem]]:
    """Every shape problem in `doc`, one per mistake, with the path of the data at fault."""
    if valid(doc.data):
        return []
    return [
        (tuple(error.absolute_path), problem)
        for error in _validator().iter_errors(doc.data)
        for problem in describe(doc, error)
    ]


def usable(entry: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The keys of `entry` (a `queue`, `cron` or `defaults`) whose values have the right shape."""
    return {key: value for key, value in entry.items() if _key_validator(kind, key).is_valid(value)}


@cache
def _key_validator(kind: str, key: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    defs = structure()["$defs"]
    schema = defs[kind]["properties"].get(key, False)
    if isinstance(schema, dict):
        schema = {**schema, "$defs": defs}
    return Draft202012Validator(schema, format_checker=_formats())


def describe(doc: Document, error: ValidationError, base: Path = ()) -> Iterator[Problem]:
    """Turn one jsonschema error on data at `base` inside `doc` into problems."""
    path: Path = (*base, *error.absolute_path)
    kind = error.validator
    schema: Any = error.schema
    expected: Any = error.validator_value
    instance: Any = error.instance
    if "propertyNames" in error.relative_schema_path:
        name = str(instance)
        hint = f"rename it to '{fixed}'" if (fixed := names.suggest(name)) else ""
        message = f"invalid name {_show(name)}: {names.reason(name)}; expected {names.EXPECTED}"
        yield doc.problem((*path, name), "name", message, hint, key=True)
    elif kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield doc.problem(
                    (*path, key),
                    "unknown-key",
                    f"unknown key '{key}'{did_you_mean(key, allowed)}",
                    _unknown_key_hint(key, path, allowed),
                    key=True,
                )
    elif kind == "required":
        for key in expected:
            if key not in instance:
                message = f"missing required key '{key}'"
                hint = _MISSING_HINTS.get(key, "") if len(path) < 3 else ""
                yield doc.problem(path, "missing-key", message, hint, key=True)
    else:
        message, hint = _explain(error, path)
        yield doc.problem(path, _code(kind), message, hint)


def _unknown_key_hint(key: str, path: Path, allowed: list[str]) -> str:
    listed = f"allowed here: {', '.join(allowed)}" if allowed else ""
    if len(path) > 2 or path[:1] not in (("defaults",), ("queues",), ("cron",)):
        return listed
    home = next((where for where, keys in _HOMES if key in keys), None)
    if home is None:
        return listed
    here = "in `defaults`" if path == ("defaults",) else "here"
    return f"`{key}` is set on {home}, not {here}; {listed}"


def _code(kind: object) -> str:
    codes = {"type": "type", "enum": "value", "const": "value", "pattern": "format"}
    return codes.get(str(kind), "format" if kind == "format" else "value")


def _explain(error: ValidationError, path: Path) -> tuple[str, str]:
    """Message and hint for an error about one value."""
    kind, found = error.validator, error.instance
    expected: Any = error.validator_value
    if kind == "type":
        return _wrong_type(expected, found, path)
    if kind == "pattern":
        schema: Any = error.schema
        return _wrong_format(schema, found)
    if kind == "format" and error.cause is not None:
        return str(error.cause), ""
    if kind == "enum":
        options = ", ".join(str(o) for o in expected)
        suggestion = did_you_mean(str(found), [str(o) for o in expected])
        return f"expected one of {options}; found {_show(found)}{suggestion}", ""
    if kind == "const" and path == ("version",):
        if str(found).strip() == "1":
            return f"expected version 1 as a number, found {_show(found)}", (
                "write `version: 1`, without quotes"
            )
        shown = found if isinstance(found, int) and not isinstance(found, bool) else _show(found)
        return f"unsupported version {shown}: expected 1", (
            "this jobrunner reads version 1 files; upgrade jobrunner to read newer ones"
        )
    if kind == "const":
        return f"expected {json.dumps(expected)}, found {_show(found)}", ""
    return _out_of_bounds(error), ""


def _wrong_type(expected: Any, found: Any, path: Path) -> tuple[str, str]:
    wanted = [expected] if isinstance(expected, str) else list(expected)
    message = f"expected {' or '.join(_JSON_TYPES[t] for t in wanted)}, found {_show(found)}"
    hint = ""
    if "string" in wanted and isinstance(found, int | float):
        hint = f'write it in quotes: "{json.dumps(found)}"'
    elif "boolean" in wanted and str(found).lower() in _BOOLEAN_WORDS:
        hint = "write true or false, without quotes"
    elif path == ():
        hint = "a job file is a mapping that starts with `version: 1`"
    elif found is None and "object" in wanted:
        hint = f"give `{path[-1]}` its entries, or remove it"
    elif len(path) == 2 and path[0] in ("queues", "cron"):
        hint = "an entry is a mapping of its settings, like `handler: shell` and `params:`"
    elif len(path) == 2 and path[0] == "access":
        hint = 'an access entry is a mapping like `{token: "${env:API_TOKEN}", scopes: [read]}`'
    elif len(path) == 2 and path[0] == "webhooks":
        hint = "a webhook is a mapping of `path`, `queue`, `scheme` and `secret`"
    elif len(path) == 2 and path[0] == "alerts":
        hint = "an alert is a mapping like `{events: [job.dead], queue: notify}`"
    return message, hint


def _wrong_format(schema: Mapping[str, Any], found: Any) -> tuple[str, str]:
    pattern = schema.get("pattern")
    if pattern == duration.PATTERN:
        return f"invalid duration {_show(found)}: expected {duration.EXPECTED}", duration.advice(
            found
        )
    if pattern == size.PATTERN:
        return f"invalid size {_show(found)}: expected {size.EXPECTED}", size.advice(found)
    if pattern == rate.PATTERN:
        try:
            rate.parse(found)
        except ValueError as exc:
            return str(exc), "" if found.strip().startswith("0") else rate.advice(found)
    wanted = schema.get("patternErrorMessage") or f"expected text matching {pattern}"
    return f"invalid value {_show(found)}: {wanted}", ""


def _out_of_bounds(error: ValidationError) -> str:
    kind, expected = error.validator, error.validator_value
    found: Any = error.instance
    if kind in ("minimum", "exclusiveMinimum"):
        return f"must be at least {expected}, found {_show(found)}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"must be at most {expected}, found {_show(found)}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "minItems" and isinstance(found, list):
        return f"needs at least {expected} item{'s' if expected != 1 else ''}, found {len(found)}"
    if kind == "uniqueItems" and isinstance(found, list):
        repeated = next(item for i, item in enumerate(found) if item in found[:i])
        return f"items must be unique: {json.dumps(repeated)} appears more than once"
    return str(error.message)


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
