"""Names of queues and cron entries: the rule, why a name breaks it, and a name that keeps it.

Names travel in Redis keys, log lines, metrics and URLs, so they are short,
lowercase and free of spaces: 1 to 63 of `a-z 0-9 . _ -`, starting with a
letter or a digit. They are unique across the whole jobs directory.
"""

from __future__ import annotations

import re
import unicodedata

PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
EXPECTED = (
    "a name of 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
)
MAX_LENGTH = 63
_VALID = re.compile(PATTERN)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID = re.compile(r"[^a-z0-9._-]+")


def is_valid(name: str) -> bool:
    return bool(_VALID.match(name))


def reason(name: str) -> str:
    """Why `name` is not a valid name, in a few words."""
    if not name:
        return "it is empty"
    if len(name) > MAX_LENGTH:
        return f"it has {len(name)} characters, more than {MAX_LENGTH}"
    if any(c.isupper() for c in name):
        return "it has uppercase letters"
    bad = sorted(set("".join(_INVALID.findall(name))))
    if bad:
        return "it contains " + ", ".join(f"'{c}'" for c in bad)
    return f"it starts with '{name[0]}'"


def suggest(name: str) -> str | None:
    """The nearest valid name, like `SendEmail` → `send-email`; None when there is none.

    A name that is too long has none: cutting it would hide what it means.
    """
    if len(name) > MAX_LENGTH:
        return None
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    kebab = _INVALID.sub("-", _CAMEL.sub("-", ascii_name).lower()).strip("._-")
    return kebab if kebab and is_valid(kebab) else None
