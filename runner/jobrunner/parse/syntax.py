"""YAML syntax errors, worded for operators and placed where the fix goes.

PyYAML reports a syntax error as "while <context> … <problem>" with two marks:
where the construct started and where the parser gave up. For an unclosed
quote or bracket the parser gives up at the end of the file, far from the
mistake, so those point back at the opening character instead. Each common
problem gets a hint that says what to change.
"""

from __future__ import annotations

import re

import yaml

from jobrunner.parse.nodes import Position

# (text in PyYAML's problem, hint), most specific first.
_HINTS = (
    (
        "a single document",
        "a job file holds one YAML document: remove the extra `---` or split the file",
    ),
    (
        "scanning an alias",
        'a value that starts with `*` is read as an alias: quote it, like "*/5 * * * *"',
    ),
    ("scanning an anchor", "a value that starts with `&` is read as an anchor: quote it"),
    ("undefined alias", "define the anchor (`&name`) before the alias (`*name`) that uses it"),
    ("duplicate anchor", "anchor names are unique in a file: rename one, and its aliases"),
    ("end of the file", "close the quote or bracket opened here"),
    (
        "cannot start any token",
        'a value that starts with @, ` or % must be quoted, like "@value"',
    ),
    (
        "mapping values are not allowed",
        "quote a value that contains ': ', put a space after each key's colon, "
        "and indent the keys of one mapping alike",
    ),
    ("expected key", "indent the keys of one mapping alike, with spaces"),
    ("expected ',' or", "separate the items with ',' and close the bracket"),
    ("unknown escape", r"inside double quotes write \\ for a backslash, or use single quotes"),
)
_ALIAS = re.compile(r"\*[^\s,\[\]{}]+")


def describe(text: str, exc: yaml.MarkedYAMLError) -> tuple[Position, str, str]:
    """Where a syntax error is, what it is, and what to do: `(position, message, hint)`."""
    start, mark = exc.context_mark, exc.problem_mark or exc.context_mark
    if mark is None:
        return (1, 1), str(exc).strip(), ""
    if text[mark.index : mark.index + 1] == "\t":
        return (
            _pos(mark),
            "found a tab character where YAML allows only spaces",
            "YAML indentation must use spaces, not tabs",
        )
    problem = (exc.problem or "").strip()
    if "undefined alias" in problem and (alias := _ALIAS.match(text, mark.index)):
        problem += f" '{alias.group(0)}'"
    if "end of stream" in problem and start is not None:
        mark, start, problem = start, None, "found the end of the file before it was closed"
    elif "alphabetic or numeric" in problem and start is not None:  # at the `*` or `&`
        mark, start = start, None
    message = ", ".join(part for part in ((exc.context or "").strip(), problem) if part)
    if start is not None and start.line != mark.line and message.startswith("while"):
        message += f" (it starts at {start.line + 1}:{start.column + 1})"
    hint = next((hint for key, hint in _HINTS if key in message), "")
    return _pos(mark), message, hint


# What libyaml counts as a line break, so our positions agree with its marks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def unreadable(text: str, exc: yaml.reader.ReaderError) -> tuple[Position, str, str, str]:
    """A character YAML refuses to read: `(position, code, message, hint)`.

    libyaml gives a byte offset into the UTF-8 text, PyYAML's own reader a
    character index; the first occurrence of the character is where both stop.
    """
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    offset = text.find(chr(char))
    if offset < 0:  # pragma: no cover - the reader found it in this text
        offset = min(exc.position, len(text))
    breaks = list(_LINE_BREAK.finditer(text, 0, offset))
    line = len(breaks) + 1
    column = offset - (breaks[-1].end() if breaks else 0) + 1
    return (
        (line, column),
        "yaml-syntax",
        f"found control character U+{char:04X}, which YAML does not allow",
        'remove it, or write it as an escape inside double quotes, like "\\x07"',
    )


def _pos(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1
