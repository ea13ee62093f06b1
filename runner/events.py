"""Walks over the YAML parser's events, which come without recursion.

`too_deep` runs before composing: libyaml's composer recurses in C, and past
some 20,000 levels of nesting it crashes the process, so deeper files are
refused first. `alias_position` runs after a refused alias (recursive, or one
expansion too many): a composed node keeps the place of its anchor, not of
the aliases that point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from jobrunner.nodes import MAX_DEPTH, Key, Path, Position

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def too_deep(text: str) -> Position | None:
    """Where the nesting of the document in `text` first goes past `MAX_DEPTH`, if it does."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH and event.start_mark is not None:
                return event.start_mark.line + 1, event.start_mark.column + 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def alias_position(text: str, target: Path) -> Position | None:
    """Where the alias at path `target` of the document in `text` was written, if it was."""
    frames: list[_Frame] = []
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionEndEvent):
            frames.pop()
        elif isinstance(event, yaml.NodeEvent):
            path = frames[-1].child(event) if frames else ()
            mark = event.start_mark
            if isinstance(event, yaml.AliasEvent) and path == target and mark is not None:
                return mark.line + 1, mark.column + 1
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
    return None


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence open in the event stream; `path` is None inside a key."""

    path: Path | None
    mapping: bool
    index: int = 0
    key: Key | None = None  # in a mapping: the key whose value comes next

    def child(self, event: yaml.NodeEvent) -> Path | None:
        """The path of the node that `event` starts; None for a mapping key."""
        if self.path is None:
            return None
        if not self.mapping:
            self.index += 1
            return (*self.path, self.index - 1)
        if self.key is None:
            self.key = str(event.value) if isinstance(event, yaml.ScalarEvent) else ""
            return None
        path, self.key = (*self.path, self.key), None
        return path
