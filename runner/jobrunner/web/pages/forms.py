"""The enqueue form of a queue, generated from its published `payload_schema`, and the
payload a submitted form stands for.

Each top-level property of an object schema becomes a field: a list for an `enum` or a
boolean, a number box for `integer` and `number`, a text box for a string, and a JSON
text area for anything else (objects, arrays, several types). Required properties are
marked `required` (the browser says so before sending; the server does not rely on it).
The payload then goes through `Client.enqueue`, like the API's, so a refusal carries the
API's message. A queue without properties in its schema gets one JSON text area.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "field."
RAW = "payload"  # the JSON text area's name


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # enum, boolean, integer, number, string or json
    required: bool
    choices: tuple[str, ...] = ()  # the enum's values, as JSON text for non-strings
    description: str = ""
    default: str = ""

    @property
    def input(self) -> str:
        return PREFIX + self.name


def fields(schema: Any) -> list[Field]:
    """The form's fields; none when the schema has no properties (the JSON area then)."""
    if not isinstance(schema, Mapping) or not isinstance(schema.get("properties"), Mapping):
        return []
    required = set(schema.get("required") or ())
    found = []
    for name, spec in schema["properties"].items():
        spec = spec if isinstance(spec, Mapping) else {}
        kind = _kind(spec)
        choices: tuple[str, ...] = ()
        if kind == "enum":
            choices = tuple(_text(v) for v in spec["enum"])
        default = _text(spec["default"]) if "default" in spec else ""
        description = str(spec.get("description") or spec.get("title") or "")
        found.append(Field(str(name), kind, name in required, choices, description, default))
    return found


def _kind(spec: Mapping[str, Any]) -> str:
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return "enum"
    kind = spec.get("type")
    return kind if kind in ("boolean", "integer", "number", "string") else "json"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class FormError(ValueError):
    """A field that is not even JSON: said before the payload is checked."""


def payload(form: Mapping[str, str], schema: Any) -> Any:
    """The payload the submitted `form` stands for. Empty fields are left out (a required
    one is then reported by the schema check, as the API would); a typed field that does
    not read as its type is passed as text, so the schema check says what is wrong."""
    spec = fields(schema)
    raw = form.get(RAW, "").strip()
    if not spec or raw:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise FormError(f"the payload is not JSON: {exc}") from None
    found: dict[str, Any] = {}
    for field in spec:
        text = form.get(field.input, "")
        if text == "":
            continue
        found[field.name] = _value(field, text)
    return found


def _value(field: Field, text: str) -> Any:
    if field.kind == "string":
        return text
    if field.kind == "enum":
        return text if text in _strings(field) else _json(text, field.name, lenient=True)
    if field.kind in ("integer", "number", "boolean"):
        return _json(text.strip(), field.name, lenient=True)
    return _json(text, field.name, lenient=False)


def _strings(field: Field) -> set[str]:
    """The enum's choices that are strings (the others are written as JSON)."""
    return {c for c in field.choices if not _is_json_scalar(c)}


def _is_json_scalar(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), str)
    except ValueError:
        return False


def _json(text: str, name: str, *, lenient: bool) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        if lenient:
            return text
        raise FormError(f"field '{name}' is not JSON: {exc}") from None
