"""YAML text in, plain data plus the source position of every node out.

We read the events of PyYAML's (C, when available) safe parser and build the
Python values ourselves (`reader`), so that every value and every key keeps
its `line:column`, and duplicate keys, unknown tags, deep nesting and alias
bombs are problems, not surprises. Before that, files that are too large or not
UTF-8 are refused; after it, syntax errors are worded by `syntax`.

Pure: `parse(name, data)` takes bytes and reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from jobrunner.parse import nodes, reader, syntax
from jobrunner.parse.nodes import Key as Key
from jobrunner.parse.nodes import Path as Path
from jobrunner.parse.nodes import Position as Position
from jobrunner.problem import Problem, Severity

MAX_FILE_BYTES = 1024 * 1024
_START_HINT = "start it with `version: 1`, or remove it"
_UTF8_HINT = "save the file as UTF-8"


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed job file: its data and where each part of it was written.

    `data` is None when the file could not be parsed; `problems` then says why.
    """

    file: str
    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def position(self, path: Path, *, key: bool = False) -> Position:
        """Where `path` was written; its key with `key=True`.

        A path that is not in the file (a missing required key) resolves to
        its nearest ancestor that is.
        """
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
            table = self.keys if key else self.values
        return self.values.get((), (1, 1))

    def problem(
        self,
        path: Path,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, render_path(path), severity, code, message, hint)


def render_path(path: Path) -> str:
    """`("cron", "nightly", "params", "command", 0)` → `cron.nightly.params.command[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def parse(name: str, raw: bytes) -> Document:
    """Parse one job file's bytes into a `Document`."""
    text = _text(raw)
    if not isinstance(text, str):
        return _failed(name, *text)
    try:
        read = reader.read(text)
    except nodes.Refused as exc:
        return _failed(name, exc.position, exc.code, exc.message, exc.hint, exc.path)
    except yaml.MarkedYAMLError as exc:
        where, message, hint = syntax.describe(text, exc)
        return _failed(name, where, "yaml-syntax", message, hint)
    except yaml.reader.ReaderError as exc:
        return _failed(name, *syntax.unreadable(text, exc))
    if read is None:
        message = "file holds only comments" if text.strip() else "file is empty"
        return _failed(name, (1, 1), "empty-file", message, _START_HINT)
    if read.data is None:  # `~` or `null`: None would read as "could not be parsed"
        message = "expected a mapping, found nothing (null)"
        return _failed(name, read.values[()], "type", message, _START_HINT)
    return Document(name, read.data, read.values, read.keys)


def _text(raw: bytes) -> str | tuple[Position, str, str, str]:
    """The file's text, or why it has none: `(position, code, message, hint)`."""
    if len(raw) > MAX_FILE_BYTES:
        return (
            (1, 1),
            "file-too-large",
            f"file is {len(raw):,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes",
            "split the definitions into several files under the jobs directory",
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            (1, 1),
            "encoding",
            "the file is UTF-16 (it starts with a UTF-16 byte order mark): expected UTF-8",
            _UTF8_HINT,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return (
            _offset_position(raw, exc.start),
            "encoding",
            f"invalid UTF-8 byte 0x{raw[exc.start]:02x}: the file is not UTF-8 text",
            _UTF8_HINT,
        )


def _failed(
    name: str, where: Position, code: str, message: str, hint: str = "", path: Path = ()
) -> Document:
    line, column = where
    problem = Problem(name, line, column, render_path(path), Severity.ERROR, code, message, hint)
    return Document(name, None, problems=(problem,))


def _offset_position(raw: bytes, offset: int) -> Position:
    """Line and column of a byte offset, the column counted in characters as editors do."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column
