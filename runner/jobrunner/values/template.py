"""`{field}` templates over a job's payload: idempotency keys, HTTP URLs and bodies.

`{to}` inserts the payload's `to` field, `{user.id}` a nested one; `{{` and
`}}` are literal braces; `${env:…}` references are left for the resolver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"\$\{[^}]*\}|\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def fields(text: str) -> list[str]:
    """The payload fields `text` refers to; `ValueError` with a message if malformed."""
    found = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("$") or token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(
                f"unmatched '{token}' in template '{text}': write a field as {{name}}, "
                f"a literal '{token}' as {token * 2}"
            )
        if not _FIELD.match(name):
            raise ValueError(
                f"invalid field '{{{name}}}' in template '{text}': expected a payload "
                "field like {order_id} or {user.id}"
            )
        found.append(name)
    return found


def render(text: str, payload: Any) -> str:
    """Fill `text` from `payload`; `KeyError` names a missing field."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("$"):
            return token
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise ValueError(f"unmatched '{token}' in template '{text}'")
        return str(lookup(payload, name))

    return _TOKEN.sub(replace, text)


def lookup(payload: Any, name: str) -> Any:
    value = payload
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"payload has no field '{name}'")
        value = value[part]
    return value
