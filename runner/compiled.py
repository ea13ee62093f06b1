"""JSON Schemas compiled to Python code: a quick "valid" before jsonschema words the errors.

fastjsonschema checks valid data many times faster than jsonschema, but in
draft 7 terms, and it stops at the first error, worded its own way. So a
compiled schema only ever answers "valid": data it refuses goes through
jsonschema (2020-12) for the full list of errors, and so does all data of a
schema that uses a keyword whose meaning changed after draft 7 (`$ref`,
`prefixItems`, `unevaluatedProperties`, …). jsonschema is imported only then.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

# Keywords that mean the same in draft 7 and in 2020-12 (annotations included).
_SAME = frozenset(
    {
        *("type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
        *("minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems"),
        *("required", "minProperties", "maxProperties"),
        *("title", "description", "default", "examples", "$comment", "format", "deprecated"),
        *("readOnly", "writeOnly", "contentEncoding", "contentMediaType"),
    }
)
_SUBSCHEMA = frozenset(
    {"items", "contains", "additionalProperties", "propertyNames", "not", "if", "then", "else"}
)
_SUBSCHEMA_MAP = frozenset({"properties", "patternProperties"})
_SUBSCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf"})
# Every other keyword either draft knows: a schema with one of them is left to jsonschema.
# Keywords neither knows are ignored by both.
_OTHERS = frozenset(
    {
        *("$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary"),
        *("$defs", "definitions", "$recursiveRef", "$recursiveAnchor", "prefixItems"),
        *("additionalItems", "dependencies", "dependentRequired", "dependentSchemas"),
        *("unevaluatedItems", "unevaluatedProperties", "minContains", "maxContains"),
        *("multipleOf", "contentSchema"),
    }
)


class Validator:
    """The errors of data against a 2020-12 `schema`, found by jsonschema only for invalid data."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._quick = _compiled(_canonical(schema)) if same_in_draft7(schema) else None
        self._full: Draft202012Validator | None = None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self._quick is not None and self._quick(instance):
            return
        if self._full is None:
            from jsonschema import Draft202012Validator

            self._full = Draft202012Validator(self.schema)
        yield from self._full.iter_errors(instance)


def same_in_draft7(schema: Any) -> bool:
    """Whether `schema` means the same read as draft 7: it uses only keywords that do."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    return all(_same_keyword(key, value) for key, value in schema.items())


def _same_keyword(key: str, value: Any) -> bool:
    if key in _SUBSCHEMA:
        return same_in_draft7(value)
    if key in _SUBSCHEMA_MAP:
        return isinstance(value, Mapping) and all(same_in_draft7(v) for v in value.values())
    if key in _SUBSCHEMA_LIST:
        return isinstance(value, list) and all(same_in_draft7(v) for v in value)
    return key in _SAME or key not in _OTHERS


def _canonical(schema: Mapping[str, Any]) -> str | None:
    try:
        return json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not JSON: jsonschema alone judges it
        return None


@lru_cache(maxsize=256)
def _compiled(text: str | None) -> Callable[[Any], bool] | None:
    """`schema` compiled, or None where fastjsonschema cannot compile what jsonschema reads."""
    import fastjsonschema

    if text is None:
        return None
    try:
        check = fastjsonschema.compile(json.loads(text), use_default=False, use_formats=False)
    except Exception:  # its refusals, and its bugs, leave jsonschema to judge
        return None

    def valid(instance: Any) -> bool:
        try:
            check(instance)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return valid
