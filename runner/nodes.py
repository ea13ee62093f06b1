"""Composed YAML nodes to plain values, keeping where each value and key was written.

PyYAML's constructors forget positions, silently keep the last of two
duplicate keys and expand aliases without bound. `build` walks the node graph
itself: duplicate keys, unknown tags and recursive aliases are refused, and
alias expansion is bounded, so a "billion laughs" file fails in milliseconds.
YAML timestamps stay the strings the operator wrote (we parse times ourselves).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

MAX_ALIAS_NODES = 50_000
MAX_DEPTH = 100  # levels of nesting; a job file needs fewer than ten
TOO_DEEP = (
    f"the data nests deeper than {MAX_DEPTH} levels",
    "a job file needs a few levels of nesting: flatten the data",
)

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
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_constructor = yaml.constructor.SafeConstructor()


class Refused(Exception):
    """A node the builder will not turn into data; `alias`: the mistake is the alias at `path`."""

    def __init__(
        self,
        node: yaml.Node,
        code: str,
        message: str,
        hint: str = "",
        path: Path = (),
        *,
        alias: bool = False,
    ) -> None:
        super().__init__(message)
        self.position = _pos(node.start_mark)
        self.code, self.message, self.hint, self.path = code, message, hint, path
        self.alias = alias


def _pos(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def build(root: yaml.Node) -> tuple[Any, dict[Path, Position], dict[Path, Position]]:
    """The plain value of `root`, with the positions of its values and of its keys.

    Raises `Refused` for a node that cannot become plain data.
    """
    builder = _Builder()
    return builder.build(root, ()), builder.values, builder.keys


class _Builder:
    """Turns a composed node graph into plain values and records positions."""

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self._seen: set[int] = set()
        self._active: set[int] = set()
        self._alias_nodes = 0
        self._alias_root: tuple[int, Path] | None = None  # alias being expanded: node, path

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._enter(node, path)
        try:
            self.values.setdefault(path, _pos(node.start_mark))
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                _check_tag(node, _COLLECTION_TAGS, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return _scalar(node, path)
        finally:
            self._leave(node)

    def _enter(self, node: yaml.Node, path: Path) -> None:
        """Refuse a node that contains itself, or one alias expansion too many."""
        ident = id(node)
        if len(path) > MAX_DEPTH:  # reached through aliases: the text itself was checked
            raise Refused(node, "yaml-depth", *TOO_DEEP)
        if ident in self._active:
            raise Refused(
                node,
                "yaml-alias",
                "recursive alias: this alias points at a node that contains it",
                "an anchored mapping or list cannot include itself: remove the alias",
                path,
                alias=True,
            )
        self._active.add(ident)
        if ident in self._seen:  # reached again through an alias
            if self._alias_root is None:
                self._alias_root = ident, path
            self._alias_nodes += 1
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise Refused(
                    node,
                    "yaml-alias",
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} values "
                    "(nested aliases multiply: an 'alias bomb')",
                    "use file-level `defaults:` instead of deeply nested anchors",
                    self._alias_root[1],
                    alias=True,
                )
        self._seen.add(ident)

    def _leave(self, node: yaml.Node) -> None:
        self._active.discard(id(node))
        if self._alias_root and self._alias_root[0] == id(node):
            self._alias_root = None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        _check_tag(node, _COLLECTION_TAGS, path)
        result: dict[str, Any] = {}
        merged: list[tuple[yaml.MappingNode, Path]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(_merge_sources(value_node, (*path, "<<")))
                continue
            key = self._key(key_node, path, result)
            result[key] = self.build(value_node, (*path, key))
        for source, where in merged:
            self._merge(source, where, path, result)
        return result

    def _key(self, node: yaml.Node, path: Path, result: dict[str, Any]) -> str:
        """The key `node` holds, refused when it is a collection or a duplicate."""
        if not isinstance(node, yaml.ScalarNode):
            raise Refused(
                node,
                "yaml-key",
                "a mapping key must be a plain string, not a list or a mapping",
                "write one entry per name; share their settings with an anchor and `<<`",
                path,
            )
        _check_tag(node, _SCALAR_TAGS, path)
        key = str(node.value)
        if key in result:
            line, column = self.keys[(*path, key)]
            raise Refused(
                node,
                "duplicate-key",
                f"duplicate key '{key}' (first defined at {line}:{column})",
                "YAML would silently keep only the last one: remove or rename one",
                (*path, key),
            )
        self.keys[(*path, key)] = _pos(node.start_mark)
        return key

    def _merge(
        self, source: yaml.MappingNode, where: Path, path: Path, result: dict[str, Any]
    ) -> None:
        """Add the keys of a `<<` merge source that `result` does not set itself."""
        self._enter(source, where)
        try:
            own: dict[str, Any] = {}
            for key_node, value_node in source.value:
                key = self._key(key_node, where, own)
                own[key] = None
                if key not in result:
                    self.keys[(*path, key)] = self.keys[(*where, key)]
                    result[key] = self.build(value_node, (*path, key))
        finally:
            self._leave(source)


def _merge_sources(node: yaml.Node, path: Path) -> Iterator[tuple[yaml.MappingNode, Path]]:
    many = isinstance(node, yaml.SequenceNode)
    for index, item in enumerate(node.value if many else [node]):
        where = (*path, index) if many else path
        if not isinstance(item, yaml.MappingNode):
            raise Refused(
                item,
                "yaml-merge",
                "a merge key `<<` takes a mapping or a list of mappings",
                "merge an anchored mapping, like `<<: *common`",
                where,
                alias=True,
            )
        yield item, where


def _check_tag(node: yaml.Node, allowed: set[str], path: Path) -> None:
    if node.tag not in allowed:
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise Refused(
            node,
            "yaml-tag",
            f"unsupported YAML tag '{shown}'",
            "remove the tag: job files hold plain strings, numbers, booleans, lists and mappings",
            path,
        )


def _scalar(node: yaml.Node, path: Path) -> Any:
    _check_tag(node, _SCALAR_TAGS, path)
    if node.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
        return node.value
    return _constructor.construct_object(node)
