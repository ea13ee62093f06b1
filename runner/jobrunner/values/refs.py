"""`${env:NAME}` and `${file:/path}` references inside handler params.

They are resolved when a job runs, in the worker, and never stored or logged.
`$${` writes a literal `${`. Parsing is pure; `resolve` takes the environment
and a file reader from its caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXPECTED = "a reference like ${env:NAME} or ${file:/absolute/path}"


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str  # "env" | "file"
    target: str

    def __str__(self) -> str:
        return f"${{{self.kind}:{self.target}}}"


def scan(text: str) -> Iterator[Ref | str]:
    """Yield each reference in `text`, or an error message for a malformed one."""
    if "${" not in text:  # most strings: none to look for
        return
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token == "$${":
            continue
        if match.group(1) is None:
            yield f"unclosed '${{' in '{text}': expected {EXPECTED} (write $${{ for a literal ${{)"
            continue
        yield _parse(match.group(1))


def _parse(body: str) -> Ref | str:
    kind, sep, target = body.partition(":")
    if not sep or kind not in ("env", "file"):
        return f"unknown reference '${{{body}}}': expected {EXPECTED}"
    if kind == "env" and not _ENV_NAME.match(target):
        fixed = re.sub(r"\W", "_", target).lstrip("0123456789") or "NAME"
        return (
            f"invalid variable name '{target}' in '${{{body}}}': expected letters, digits "
            f"and _, not starting with a digit, like ${{env:{fixed}}}"
        )
    if kind == "file" and not target.startswith("/"):
        return (
            f"relative path in '${{{body}}}': expected an absolute path, "
            "like ${file:/run/secrets/token}"
        )
    return Ref(kind, target)


def walk_strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside a JSON-like value, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk_strings(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from walk_strings(item, (*path, index))


def substitute(text: str, lookup: Callable[[Ref], str]) -> str:
    """Replace each reference in `text` by `lookup(ref)`; `$${` becomes `${`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        parsed = _parse(match.group(1) or "")
        if isinstance(parsed, str):
            raise ValueError(parsed)
        return lookup(parsed)

    return _TOKEN.sub(replace, text)


def resolve(ref: Ref, environ: Mapping[str, str], read_file: Callable[[str], str]) -> str:
    """The value of one reference; `LookupError` with a message when it has none."""
    if ref.kind == "env":
        if ref.target not in environ:
            raise LookupError(f"environment variable {ref.target} is not set")
        return environ[ref.target]
    try:
        return read_file(ref.target).rstrip("\n")
    except OSError as exc:
        raise LookupError(f"cannot read {ref.target}: {exc.strerror or exc}") from None


_ONE_REFERENCE = re.compile(r"\$\{[^}]*\}")


def secret(text: str, what: str, hint: str) -> Ref | tuple[str, str, str]:
    """The one reference `text` is, or (code, message, hint) saying why it is not one.

    For a value that must never sit in a job file (an access token, a webhook secret,
    named `what`): the message never echoes `text`, which may be the secret itself.
    """
    if _ONE_REFERENCE.fullmatch(text):
        (found,) = scan(text)
        return found if isinstance(found, Ref) else ("reference", found, "")
    if "${" in text:
        return (
            what,
            f"the {what} must be one reference and nothing else: expected {EXPECTED}",
            f"put the whole {what} in the variable or file",
        )
    return (what, f"the {what} is written in the file in plain text", hint)
