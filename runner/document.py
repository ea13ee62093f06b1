"""YAML text in, plain data plus the source position of every node out.

PyYAML's constructors forget where a value came from and silently keep the
last of two duplicate keys. We compose the node graph with PyYAML's (C, when
available) safe parser and build the Python values ourselves, so that:

- every value and every key keeps its `line:column`;
- duplicate keys, unknown tags and recursive aliases are problems, not surprises;
- alias expansion is bounded, so a "billion laughs" file fails in milliseconds;
- YAML timestamps stay the strings the operator wrote (we parse times ourselves).

Pure: `parse(name, data)` takes bytes and reads nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from jobrunner.problem import Problem, Severity

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 1024 * 1024
MAX_ALIAS_NODES = 50_000

Key = str | int
Path = tuple[Key, ...]
Position = tuple[int, int]  # 1-based line and column

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_constructor = yaml.constructor.SafeConstructor()


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


class _Refused(Exception):
    def __init__(
        self, node: yaml.Node, code: str, message: str, hint: str = "", path: Path = ()
    ) -> None:
        super().__init__(message)
        self.position = _pos(node.start_mark)
        self.code, self.message, self.hint, self.path = code, message, hint, path


def _pos(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def parse(name: str, raw: bytes) -> Document:
    """Parse one job file's bytes into a `Document`."""
    if len(raw) > MAX_FILE_BYTES:
        return _failed(
            name,
            (1, 1),
            "file-too-large",
            f"file is {len(raw):,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes",
            "split the definitions into several files under the jobs directory",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _failed(
            name,
            _offset_position(raw, exc.start),
            "encoding",
            f"invalid UTF-8 byte 0x{raw[exc.start]:02x}",
            "save the file as UTF-8",
        )
    try:
        root = _Loader(text).get_single_node()
    except yaml.MarkedYAMLError as exc:
        return _syntax_failure(name, text, exc)
    except yaml.YAMLError as exc:
        return _failed(name, (1, 1), "yaml-syntax", str(exc).strip())
    if root is None:
        return _failed(
            name,
            (1, 1),
            "empty-file",
            "file is empty",
            "start it with `version: 1`, or remove it",
        )
    builder = _Builder()
    try:
        data = builder.build(root, ())
    except _Refused as exc:
        return _failed(name, exc.position, exc.code, exc.message, exc.hint, exc.path)
    return Document(name, data, builder.values, builder.keys)


def _failed(
    name: str, where: Position, code: str, message: str, hint: str = "", path: Path = ()
) -> Document:
    line, column = where
    problem = Problem(name, line, column, render_path(path), Severity.ERROR, code, message, hint)
    return Document(name, None, problems=(problem,))


def _offset_position(raw: bytes, offset: int) -> Position:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def _syntax_failure(name: str, text: str, exc: yaml.MarkedYAMLError) -> Document:
    mark = exc.problem_mark or exc.context_mark
    where = _pos(mark) if mark else (1, 1)
    message = " ".join(part for part in (exc.context, exc.problem) if part)
    hint = ""
    if mark and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        message = "found a tab character where YAML allows only spaces"
        hint = "YAML indentation must use spaces, not tabs"
    elif "expected a single document" in message:
        hint = "a job file holds one YAML document: remove the extra `---` or split the file"
    return _failed(name, where, "yaml-syntax", message, hint)


class _Builder:
    """Turns a composed node graph into plain values and records positions."""

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self._seen: set[int] = set()
        self._active: set[int] = set()
        self._alias_nodes = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._enter(node)
        try:
            self.values.setdefault(path, _pos(node.start_mark))
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return _scalar(node)
        finally:
            self._active.discard(id(node))

    def _enter(self, node: yaml.Node) -> None:
        ident = id(node)
        if ident in self._active:
            raise _Refused(node, "yaml-alias", "recursive alias: a node contains itself")
        self._active.add(ident)
        if ident in self._seen:  # reached again through an alias
            self._alias_nodes += 1
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise _Refused(
                    node,
                    "yaml-alias",
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes",
                    "use file-level `defaults:` instead of deeply nested anchors",
                )
        self._seen.add(ident)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[tuple[yaml.Node, Path]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend((m, path) for m in _merge_sources(value_node))
                continue
            key = _key(key_node)
            if key in result:
                line, column = self.keys[(*path, key)]
                raise _Refused(
                    key_node,
                    "duplicate-key",
                    f"duplicate key '{key}' (first defined at {line}:{column})",
                    "YAML would silently keep only the last one: remove or rename one",
                    (*path, key),
                )
            self.keys[(*path, key)] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, (*path, key))
        for source, base in merged:
            self._enter(source)
            try:
                for key_node, value_node in source.value:
                    key = _key(key_node)
                    if key not in result:
                        self.keys[(*base, key)] = _pos(key_node.start_mark)
                        result[key] = self.build(value_node, (*base, key))
            finally:
                self._active.discard(id(source))
        return result


def _merge_sources(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for item in items:
        if not isinstance(item, yaml.MappingNode):
            raise _Refused(
                item, "yaml-merge", "a merge key `<<` takes a mapping or a list of mappings"
            )
        yield item


def _key(node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise _Refused(node, "yaml-key", "a mapping key must be a plain string, not a collection")
    return str(node.value)


def _scalar(node: yaml.Node) -> Any:
    tag = node.tag
    if tag not in _SCALAR_TAGS:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        raise _Refused(
            node,
            "yaml-tag",
            f"unsupported YAML tag '{shown}'",
            "job files hold plain strings, numbers, booleans, lists and mappings",
        )
    if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
        return node.value
    return _constructor.construct_object(node)
