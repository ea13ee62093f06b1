"""Reporters, chosen by name: how problems are shown to a person, a script or GitHub."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from jobrunner.problem import Problem, Severity


def text(problems: Sequence[Problem]) -> str:
    """Compiler style, one line a problem, its hint indented below it."""
    lines = []
    for p in problems:
        where = f"{p.path}: " if p.path else ""
        lines.append(f"{p.file}:{p.line}:{p.column}: {p.severity}: {where}{p.message} [{p.code}]")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    return "\n".join(lines)


def as_json(problems: Sequence[Problem]) -> str:
    return json.dumps([p.as_dict() for p in problems], indent=2)


def github(problems: Sequence[Problem]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's lines."""
    lines = []
    for p in problems:
        level = "error" if p.severity is Severity.ERROR else "warning"
        props = f"file={_prop(p.file)},line={p.line},col={p.column},title={_prop(p.code)}"
        message = f"{p.path}: {p.message}" if p.path else p.message
        if p.hint:
            message += f"\n{p.hint}"
        lines.append(f"::{level} {props}::{_data(message)}")
    return "\n".join(lines)


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


REPORTERS: dict[str, Callable[[Sequence[Problem]], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
}


def summary(problems: Sequence[Problem], files: int, entries: int) -> str:
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = len(problems) - errors
    counted = f"{_plural(files, 'file')}, {_plural(entries, 'entry', 'entries')}"
    if not problems:
        return f"ok: {counted}, no problems"
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in {counted}"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"
