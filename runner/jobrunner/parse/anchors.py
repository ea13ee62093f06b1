"""Anchors, aliases and `<<` merges: the parts of a YAML document used again.

An alias repeats the value its anchor names, as a copy (no two places share
a mapping or a list), and the positions of its parts: where the anchor wrote
them. A merge key adds the keys of the mappings it names that its own
mapping does not set. Every value an alias or a merge repeats is counted,
and past `MAX_ALIAS_NODES` the file is refused, so a "billion laughs" file
fails in milliseconds; an alias inside the node it names is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from jobrunner.parse.nodes import MAX_ALIAS_NODES, MAX_DEPTH, TOO_DEEP, Path, Position, Refused


@dataclass(frozen=True, slots=True)
class Anchor:
    """A node with an `&anchor`, kept for the aliases that repeat it."""

    value: Any
    text: str | None  # a scalar's text, for an alias used as a mapping key
    tag: str
    path: Path  # where it was read: the positions of its parts are recorded below it
    position: Position
    size: int = 1  # values it holds: what each alias adds to the expansion count
    depth: int = 0  # levels of nesting below it

    @classmethod
    def of(cls, value: Any, path: Path, position: Position, tag: str) -> Anchor:
        """The anchor of a mapping or a list read at `path`."""
        size, depth = _measure(value)
        return cls(value, None, tag, path, position, size, depth)


@dataclass(frozen=True, slots=True)
class Source:
    """A mapping named by a `<<` merge key, read at `path`; `alias`: where its alias was."""

    value: dict[str, Any]
    path: Path
    alias: Position | None


class Anchors:
    """The anchors of one document, and the positions their repetitions add to its tables."""

    def __init__(self, values: dict[Path, Position], keys: dict[Path, Position]) -> None:
        self.values, self.keys = values, keys
        self.named: dict[str, Anchor | Position] = {}  # a Position: a collection being read
        self.aliases: dict[Path, Position] = {}  # where each alias was written
        self.expanded = 0

    def define(
        self, name: str, anchor: Anchor | Position, mark: Any
    ) -> yaml.MarkedYAMLError | None:
        """Name `anchor`; the error a second anchor of the same name is (the composer's)."""
        first = self.named.get(name)
        self.named[name] = anchor
        if first is None:
            return None
        line, column = first.position if isinstance(first, Anchor) else first
        return yaml.composer.ComposerError(
            None, None, f"found duplicate anchor '&{name}' (first at {line}:{column})", mark
        )

    def repeat(self, anchor: Anchor | Position, path: Path, position: Position) -> Any:
        """A copy of the value the alias at `path`, written at `position`, repeats."""
        self.aliases[path] = position
        if not isinstance(anchor, Anchor):
            raise Refused(
                position,
                "yaml-alias",
                "recursive alias: this alias points at a node that contains it",
                "an anchored mapping or list cannot include itself: remove the alias",
                path,
            )
        if len(path) + anchor.depth > MAX_DEPTH:
            raise Refused(position, "yaml-depth", *TOO_DEEP, path)
        self._count(anchor.size, position, path)
        self._record(anchor.value, anchor.path, path, anchor.position)
        return _copy(anchor.value)

    def sources(self, merged: Any, where: Path) -> tuple[Source, ...]:
        """The mappings a `<<` value read at `where` names: one, or a list of them."""
        many = type(merged) is list
        sources = []
        for index, source in enumerate(merged if many else [merged]):
            at = (*where, index) if many else where
            if type(source) is not dict:
                raise Refused(
                    self.aliases.get(at) or self.values[at],
                    "yaml-merge",
                    "a merge key `<<` takes a mapping or a list of mappings",
                    "merge an anchored mapping, like `<<: *common`",
                    at,
                )
            sources.append(Source(source, at, self.aliases.get(at) or self.aliases.get(where)))
        return tuple(sources)

    def merge(self, mapping: dict[str, Any], path: Path, source: Source) -> None:
        """Add to `mapping`, read at `path`, the keys of `source` it does not set itself."""
        for key, value in source.value.items():
            if key in mapping:
                continue
            if source.alias is not None:  # what it repeats counts as an alias's expansion
                self._count(_measure(value)[0], source.alias, source.path)
            at, to = (*source.path, key), (*path, key)
            self.keys[to] = self.keys[at]
            self._record(value, at, to, self.values[at])
            mapping[key] = _copy(value)

    def _count(self, size: int, position: Position, path: Path) -> None:
        """Count the values aliases repeat; refuse one expansion too many."""
        self.expanded += size
        if self.expanded > MAX_ALIAS_NODES:
            raise Refused(
                position,
                "yaml-alias",
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values "
                "(nested aliases multiply: an 'alias bomb')",
                "use file-level `defaults:` instead of deeply nested anchors",
                path,
            )

    def _record(self, value: Any, old: Path, new: Path, position: Position) -> None:
        """Record the positions of `value`, read at `old`, again at `new`."""
        self.values.setdefault(new, position)
        if type(value) is dict:
            for key, item in value.items():
                self.keys[(*new, key)] = self.keys[(*old, key)]
                self._record(item, (*old, key), (*new, key), self.values[(*old, key)])
        elif type(value) is list:
            for index, item in enumerate(value):
                self._record(item, (*old, index), (*new, index), self.values[(*old, index)])


def _measure(value: Any) -> tuple[int, int]:
    """How many values `value` holds (itself included), and how deep they nest below it."""
    if type(value) is dict:
        parts = [_measure(item) for item in value.values()]
    elif type(value) is list:
        parts = [_measure(item) for item in value]
    else:
        return 1, 0
    return 1 + sum(size for size, _ in parts), 1 + max((depth for _, depth in parts), default=0)


def _copy(value: Any) -> Any:
    """A fresh copy of what an alias repeats, so no two places share a mapping or list."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value
