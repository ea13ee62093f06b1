"""JSON Schema at two speeds: jsonschema-rs says whether data is valid, jsonschema says why not.

jsonschema-rs (compiled Rust) checks data against a 2020-12 schema tens of
times faster than jsonschema and compiles a schema in microseconds, but its
messages are not ours. So it only ever answers "valid": data it refuses goes
through jsonschema, which lists every error for `shape` and `payload` to
word, and has the last word. jsonschema is imported only then.

The two read a schema alike, both following the specification, except in
the dialect of `pattern`: Rust's regular expressions against Python's. A
schema jsonschema-rs cannot compile is left to jsonschema alone, and data
it refuses but jsonschema accepts (Python's `$` also matches before a final
newline) is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

Quick = Callable[[Any], bool]


class Validator:
    """The errors of data against a 2020-12 `schema`, looked for only in data that has some."""

    def __init__(self, schema: Mapping[str, Any], *, text: str | None = None) -> None:
        """`text`: `schema` as `json.dumps(schema, sort_keys=True)` writes it, if already known."""
        self.schema = schema
        self._quick = quick(schema) if text is None else _compiled(text, ())
        self._full: Draft202012Validator | None = None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self._quick is not None and self._quick(instance):
            return
        if self._full is None:
            from jsonschema import Draft202012Validator

            self._full = Draft202012Validator(self.schema)
        yield from self._full.iter_errors(instance)


def quick(schema: Mapping[str, Any], formats: Mapping[str, Quick] | None = None) -> Quick | None:
    """Whether data is certainly valid against `schema`; None when jsonschema-rs cannot read it.

    `formats` names the checks of the schema's own formats, which jsonschema
    is given too; its other formats are checked by jsonschema-rs alone, so
    they can only send more data to jsonschema, never less.
    """
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not JSON: jsonschema alone judges it
        return None
    return _compiled(text, tuple(sorted((formats or {}).items())))


@lru_cache(maxsize=4096)
def _compiled(text: str, formats: tuple[tuple[str, Quick], ...]) -> Quick | None:
    import jsonschema_rs

    try:
        validator = jsonschema_rs.Draft202012Validator(
            json.loads(text), formats=dict(formats) or None, validate_formats=bool(formats)
        )
    except Exception:  # an invalid schema, or a pattern in another dialect: jsonschema judges
        return None

    def valid(instance: Any) -> bool:
        try:
            return validator.is_valid(instance)
        except Exception:  # data that is not JSON (a number key, a set): jsonschema judges
            return False

    return valid
