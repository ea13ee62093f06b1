"""YAML events to plain values, keeping where each value and key was written.

PyYAML's composer recurses in C (deep nesting crashes the process), its
constructors forget positions, silently keep the last of two duplicate keys
and expand aliases without bound. `read` builds the values itself, in one
pass over the C parser's events, with a stack instead of recursion: nesting
is bounded as it goes, duplicate keys, unknown tags and recursive aliases are
refused, and alias expansion is counted, so a "billion laughs" file fails in
milliseconds. YAML timestamps stay the strings the operator wrote (we parse
times ourselves).

Which mistake is reported when a file holds several follows their weight:
a syntax error or too deep a nesting, whichever comes first, then the
composer's errors (an undefined alias, a second document), then the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_ALIAS_NODES = 50_000
MAX_DEPTH = 100  # levels of nesting; a job file needs fewer than ten
TOO_DEEP = (
    f"the data nests deeper than {MAX_DEPTH} levels",
    "a job file needs a few levels of nesting: flatten the data",
)

Key = str | int
Path = tuple[Key, ...]
Position = tuple[int, int]  # 1-based line and column

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SafeConstructor = yaml.constructor.SafeConstructor
_CONSTRUCTORS = {  # the tags whose values are not the text itself
    "tag:yaml.org,2002:int": _SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _SafeConstructor.construct_yaml_null,
}
_SCALAR_TAGS = {_STR, _TIMESTAMP, *_CONSTRUCTORS}
_COLLECTION_TAGS = {_MAP, _SEQ}
_constructor = _SafeConstructor()
_TAG_HINT = "remove the tag: job files hold plain strings, numbers, booleans, lists and mappings"
_UNFIT = object()  # what a scalar holds whose tag does not fit it, like `!!int abc`
_resolve: Callable[[type, str, tuple[bool, bool]], str] = yaml.resolver.Resolver().resolve


class Refused(Exception):
    """A node the reader will not turn into data: where it was written, at which path, and why."""

    def __init__(
        self, position: Position, code: str, message: str, hint: str = "", path: Path = ()
    ) -> None:
        super().__init__(message)
        self.position, self.path = position, path
        self.code, self.message, self.hint = code, message, hint


@dataclass(frozen=True, slots=True)
class Read:
    """A document's plain value, and where each of its values and keys was written."""

    data: Any
    values: dict[Path, Position]
    keys: dict[Path, Position]


def read(text: str) -> Read | None:
    """The one document in `text`, or None when it holds none (only comments).

    Raises `Refused` for what cannot become plain data, and PyYAML's
    `MarkedYAMLError` or `ReaderError` for what is not YAML.
    """
    return _Reader().read(text)


Entry = tuple[Path, Position, bool]  # a value's or (True) a key's path and position


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence being read."""

    value: Any  # the dict or list being filled
    path: Path
    position: Position
    anchor: str | None
    start: int  # where its entries begin in the reader's log
    key: str | None = None  # in a mapping: the key whose value comes next
    merge: bool = False  # that key is `<<`
    merges: list[_Source] = field(default_factory=list)  # its `<<` values


@dataclass(frozen=True, slots=True)
class _Source:
    """A mapping named by a `<<` merge key, read at `path`; `alias`: where the alias was."""

    value: dict[str, Any]
    path: Path
    entries: list[Entry]  # what was recorded below `path`
    alias: Position | None


@dataclass(frozen=True, slots=True)
class _Anchor:
    """A node with an `&anchor`, kept for the aliases that repeat it."""

    value: Any
    text: str | None  # a scalar's text, for an alias used as a mapping key
    tag: str
    path: Path
    position: Position
    entries: list[Entry]  # what was recorded while reading it, under `path`
    depth: int  # levels of nesting below it

    @property
    def size(self) -> int:
        """The values an alias of it repeats: what the alias adds to the expansion count."""
        return sum(1 for _, _, is_key in self.entries if not is_key)


class _Reader:
    """Reads one stream of events into values, positions and the first refusal.

    Every position recorded is also appended to `log`, in order, so what was
    recorded while reading one node is a slice of it: aliases and `<<`
    merges repeat those slices under their own paths.
    """

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.log: list[Entry] = []
        self.anchors: dict[str, _Anchor | Position] = {}  # a Position: still being read
        self.aliases: dict[Path, Position] = {}  # where each alias was written
        self.expanded = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.root_position: Position = (1, 1)
        self.refused: Refused | None = None
        self.composer_error: yaml.MarkedYAMLError | None = None
        self.failed = False  # either of the two above is set

    def read(self, text: str) -> Read | None:
        parser = _Loader(text)
        try:
            get = parser.get_event
            get()  # the stream starts
            if isinstance(event := get(), yaml.StreamEndEvent):
                return None
            self._document(get)
            while not isinstance(event := get(), yaml.StreamEndEvent):
                if isinstance(event, yaml.DocumentStartEvent):
                    self._composer_error(
                        "expected a single document in the stream",
                        event,
                        self.root_position,
                        "but found another document",
                    )
                self._drain(event)
        finally:
            parser.dispose()
        if self.composer_error:
            raise self.composer_error
        if self.refused:
            raise self.refused
        return Read(self.root, self.values, self.keys)

    def _document(self, get: Callable[[], Any]) -> None:
        """Read the events of the document until it ends.

        Plain keys and string values, nine in ten of a job file's events, are
        recorded here; the rest goes through the methods below.
        """
        stack, values, keys, log = self.stack, self.values, self.keys, self.log
        scalar_event, alias_event, document_end = (
            yaml.ScalarEvent,
            yaml.AliasEvent,
            yaml.DocumentEndEvent,
        )
        end_events = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        while True:
            event = get()
            kind = event.__class__
            if self.failed:
                if kind is document_end:
                    return
                self._drain(event)
            elif kind is scalar_event:
                if not stack or event.tag is not None or event.anchor is not None:
                    self._node(event)
                    continue
                frame = stack[-1]
                text = event.value
                tag = _plain_tag(text) if event.implicit[0] else _STR
                container = frame.value
                if type(container) is list:
                    if tag is not _STR:
                        self._scalar(frame, event)
                        continue
                    path = (*frame.path, len(container))
                    container.append(text)
                elif frame.key is None:
                    if tag is not _STR or text in container:
                        self._key(frame, event)
                        continue
                    mark = event.start_mark
                    position = (mark.line + 1, mark.column + 1)
                    path = (*frame.path, text)
                    keys[path] = position
                    log.append((path, position, True))
                    frame.key, frame.merge = text, False
                    continue
                elif tag is not _STR or frame.merge:
                    self._scalar(frame, event)
                    continue
                else:
                    path = (*frame.path, frame.key)
                    container[frame.key] = text
                    frame.key = None
                mark = event.start_mark
                position = (mark.line + 1, mark.column + 1)
                values.setdefault(path, position)
                log.append((path, position, False))
            elif kind in end_events:
                self._close(stack.pop())
            elif kind is alias_event:
                self._alias(event)
            elif kind is document_end:
                return
            else:
                self._open(event)

    def _node(self, event: Any) -> None:
        """A scalar that is the whole document, or has a tag or an anchor."""
        frame = self.stack[-1] if self.stack else None
        if _expects_key(frame):
            assert frame is not None
            self._key(frame, event)
        else:
            self._scalar(frame, event)

    def _drain(self, event: Any) -> None:
        """After the first mistake only the nesting bound and the composer's errors are left."""
        if isinstance(event, yaml.CollectionStartEvent):
            self._bound_depth(event)
            self.stack.append(_Frame([], (), _pos(event.start_mark), None, 0))
            self._define(event, _pos(event.start_mark))
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            self._define(event, _pos(event.start_mark))
        elif isinstance(event, yaml.AliasEvent) and event.anchor not in self.anchors:
            self._composer_error("found undefined alias", event)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.anchors = {}

    # -- nodes

    def _scalar(self, frame: _Frame | None, event: Any) -> None:
        position = _pos(event.start_mark)
        path = self._child_path(frame)
        tag = _tag(event)
        value = _value(tag, event)
        if event.anchor is not None:
            entries: list[Entry] = [(path, position, False)]
            self._define(event, _Anchor(value, event.value, tag, path, position, entries, 0))
        if tag not in _SCALAR_TAGS:
            self._refuse_tag(position, tag, path)
        elif value is _UNFIT:
            self._refuse_tag(position, tag, path, event.value)
        else:
            self.values.setdefault(path, position)
            self.log.append((path, position, False))
            self._place(frame, value, position, len(self.log) - 1)

    def _key(self, frame: _Frame, event: Any) -> None:
        tag = _tag(event)
        position = _pos(event.start_mark)
        if event.anchor is not None:
            value = _value(tag, event)
            entries: list[Entry] = [((), position, False)]
            self._define(event, _Anchor(value, event.value, tag, (), position, entries, 0))
        self._set_key(frame, event.value, tag, position)

    def _set_key(self, frame: _Frame, key: str, tag: str, position: Position) -> None:
        """Take `key` as the next key of `frame`: a plain string, said once, or `<<`."""
        if tag == _MERGE:
            frame.key, frame.merge = "<<", True
            return
        if tag not in _SCALAR_TAGS:
            self._refuse_tag(position, tag, frame.path)
            return
        path = (*frame.path, key)
        if key in frame.value:
            line, column = self.keys[path]
            self._refuse(
                position,
                "duplicate-key",
                f"duplicate key '{key}' (first defined at {line}:{column})",
                "YAML would silently keep only the last one: remove or rename one",
                path,
            )
            return
        self.keys[path] = position
        self.log.append((path, position, True))
        frame.key, frame.merge = key, False

    def _open(self, event: Any) -> None:
        self._bound_depth(event)
        mark = event.start_mark
        position = (mark.line + 1, mark.column + 1)
        frame = self.stack[-1] if self.stack else None
        mapping = event.__class__ is yaml.MappingStartEvent
        key_expected = _expects_key(frame)
        path = () if key_expected else self._child_path(frame)
        start = len(self.log)
        self.stack.append(_Frame({} if mapping else [], path, position, event.anchor, start))
        if event.anchor is not None:
            self._define(event, position)
        if key_expected:
            assert frame is not None
            self._refuse_key(position, frame.path)
            return
        tag = event.tag
        if tag is not None and tag != "!" and tag not in _COLLECTION_TAGS:
            self._refuse_tag(position, tag, path)
            return
        self.values.setdefault(path, position)
        self.log.append((path, position, False))

    def _close(self, frame: _Frame) -> None:
        if frame.merges:
            self._merge(frame)
        if self.failed:
            return
        if frame.anchor is not None:
            entries = self.log[frame.start :]
            depth = max(len(path) for path, _, _ in entries) - len(frame.path)
            anchor = _Anchor(frame.value, None, _MAP, frame.path, frame.position, entries, depth)
            self.anchors[frame.anchor] = anchor
        self._place(
            self.stack[-1] if self.stack else None, frame.value, frame.position, frame.start
        )

    def _alias(self, event: Any) -> None:
        position = _pos(event.start_mark)
        frame = self.stack[-1] if self.stack else None
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            self._composer_error("found undefined alias", event)
            return
        if _expects_key(frame):
            assert frame is not None
            if isinstance(anchor, _Anchor) and anchor.text is not None:
                self._set_key(frame, anchor.text, anchor.tag, anchor.position)
            else:
                where = anchor.position if isinstance(anchor, _Anchor) else anchor
                self._refuse_key(where, frame.path)
            return
        path = self._child_path(frame)
        self.aliases[path] = position
        if not isinstance(anchor, _Anchor):
            self._refuse(
                position,
                "yaml-alias",
                "recursive alias: this alias points at a node that contains it",
                "an anchored mapping or list cannot include itself: remove the alias",
                path,
            )
            return
        if anchor.value is _UNFIT:
            self._refuse_tag(anchor.position, anchor.tag, path, anchor.text)
            return
        if len(path) + anchor.depth > MAX_DEPTH:
            self._refuse(position, "yaml-depth", *TOO_DEEP, path)
            return
        if self._expand(anchor.size, position, path):
            start = len(self.log)
            self._repeat(anchor.entries, anchor.path, path)
            self._place(frame, _copy(anchor.value), anchor.position, start)

    def _merge_sources(self, merged: Any, where: Path, entries: list[Entry]) -> list[_Source]:
        """The mappings a `<<` value names (one, or a list of them), checked when it is read."""
        many = type(merged) is list
        sources = []
        for index, source in enumerate(merged if many else [merged]):
            at = (*where, index) if many else where
            if type(source) is not dict:
                self._refuse(
                    self.aliases.get(at) or self.values[at],
                    "yaml-merge",
                    "a merge key `<<` takes a mapping or a list of mappings",
                    "merge an anchored mapping, like `<<: *common`",
                    at,
                )
                return []
            alias = self.aliases.get(at) or self.aliases.get(where)
            sources.append(_Source(source, at, _under(entries, at), alias))
        return sources

    def _merge(self, frame: _Frame) -> None:
        """Add the keys of each `<<` merge source that the mapping does not set itself."""
        mapping = frame.value
        assert isinstance(mapping, dict)
        for source in frame.merges:
            taken = {key for key in source.value if key not in mapping}
            for key in taken:
                mapping[key] = _copy(source.value[key])
            depth = len(source.path)
            moved = [entry for entry in source.entries if entry[0][depth] in taken]
            if source.alias is not None:  # the values it repeats count as an alias's
                size = sum(1 for _, _, is_key in moved if not is_key)
                if not self._expand(size, source.alias, source.path):
                    return
            self._repeat(moved, source.path, frame.path)

    # -- bookkeeping

    def _child_path(self, frame: _Frame | None) -> Path:
        if frame is None:
            return ()
        if type(frame.value) is list:
            return (*frame.path, len(frame.value))
        assert frame.key is not None
        return (*frame.path, frame.key)

    def _place(
        self, frame: _Frame | None, value: Any, position: Position = (0, 0), start: int = 0
    ) -> None:
        """Put a finished value in the collection being read, or make it the document.

        `start` is where its entries begin in the log, for a `<<` merge.
        """
        if frame is None:
            self.root, self.root_position = value, position
        elif type(frame.value) is list:
            frame.value.append(value)
        elif frame.merge:
            where = (*frame.path, "<<")
            frame.merges.extend(self._merge_sources(value, where, self.log[start:]))
            frame.key = None
        else:
            frame.value[frame.key] = value
            frame.key = None

    def _record(self, path: Path, position: Position) -> None:
        self.values.setdefault(path, position)
        self.log.append((path, position, False))

    def _repeat(self, entries: list[Entry], old: Path, new: Path) -> None:
        """Record `entries`, read under `old`, again under `new`."""
        cut = len(old)
        for path, position, is_key in entries:
            moved = (*new, *path[cut:])
            if is_key:
                self.keys[moved] = position
            else:
                self.values.setdefault(moved, position)
            self.log.append((moved, position, is_key))

    def _define(self, event: Any, anchor: _Anchor | Position) -> None:
        """Define `event`'s anchor, if it has one (a position while it is being read)."""
        name = event.anchor
        if name is None:
            return
        if name in self.anchors:
            first = self.anchors[name]
            where = first.position if isinstance(first, _Anchor) else first
            self._composer_error(
                "found duplicate anchor; first occurrence", event, where, "second occurrence"
            )
        self.anchors[name] = anchor

    def _expand(self, size: int, position: Position, path: Path) -> bool:
        """Count the values aliases repeat; refuse one expansion too many."""
        self.expanded += size
        if self.expanded <= MAX_ALIAS_NODES:
            return True
        self._refuse(
            position,
            "yaml-alias",
            f"aliases expand to more than {MAX_ALIAS_NODES:,} values "
            "(nested aliases multiply: an 'alias bomb')",
            "use file-level `defaults:` instead of deeply nested anchors",
            path,
        )
        return False

    def _bound_depth(self, event: Any) -> None:
        """Too deep a nesting is refused at once, like a syntax error."""
        if len(self.stack) >= MAX_DEPTH:
            raise Refused(_pos(event.start_mark), "yaml-depth", *TOO_DEEP)

    # -- mistakes: the first is kept, and the rest of the stream is only checked

    def _refuse(self, position: Position, code: str, message: str, hint: str, path: Path) -> None:
        if self.refused is None:
            self.refused = Refused(position, code, message, hint, path)
            self.failed = True

    def _refuse_key(self, position: Position, path: Path) -> None:
        self._refuse(
            position,
            "yaml-key",
            "a mapping key must be a plain string, not a list or a mapping",
            "write one entry per name; share their settings with an anchor and `<<`",
            path,
        )

    def _refuse_tag(
        self, position: Position, tag: str, path: Path, text: str | None = None
    ) -> None:
        """A tag we do not read, or (`text`) a value its tag does not fit, like `!!int abc`."""
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        if text is None:
            message = f"unsupported YAML tag '{shown}'"
            hint = _TAG_HINT
        else:
            message = f"'{text}' is not a value of the YAML tag '{shown}'"
            hint = "remove the tag, or write a value of that type"
        self._refuse(position, "yaml-tag", message, hint, path)

    def _composer_error(
        self, context: str, event: Any, first: Position | None = None, problem: str = ""
    ) -> None:
        """PyYAML's composer's own errors, worded as it words them."""
        if self.composer_error is not None:
            return
        self.failed = True
        if first is None:
            self.composer_error = yaml.composer.ComposerError(None, None, context, event.start_mark)
        else:
            self.composer_error = yaml.composer.ComposerError(
                context, _mark(first), problem, event.start_mark
            )


def _expects_key(frame: _Frame | None) -> bool:
    return frame is not None and type(frame.value) is dict and frame.key is None


def _under(entries: list[Entry], path: Path) -> list[Entry]:
    """The entries below `path`."""
    depth = len(path)
    return [entry for entry in entries if len(entry[0]) > depth and entry[0][:depth] == path]


@lru_cache(maxsize=4096)
def _plain_tag(text: str) -> str:
    """The tag YAML 1.1 gives an untagged plain scalar: by its look (`42`, `true`, `~`…)."""
    tag: str = _resolve(yaml.ScalarNode, text, (True, False))
    return _STR if tag == _STR else tag


def _tag(event: Any) -> str:
    if event.tag is not None and event.tag != "!":
        return str(event.tag)
    if event.implicit[0]:
        return _plain_tag(event.value)
    return str(_resolve(yaml.ScalarNode, event.value, event.implicit))


def _value(tag: str, event: Any) -> Any:
    """The value of a scalar: `_UNFIT` when its tag is not ours, or does not fit its text."""
    if tag not in _SCALAR_TAGS:
        return _UNFIT
    construct = _CONSTRUCTORS.get(tag)
    if construct is None:  # a string, or a timestamp kept as written
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return construct(_constructor, node)
    except (ValueError, KeyError, IndexError):  # `!!int abc`
        return _UNFIT


def _copy(value: Any) -> Any:
    """A fresh copy of what an alias repeats, so no two places share a mapping or list."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def _pos(mark: Any) -> Position:
    return mark.line + 1, mark.column + 1


def _mark(position: Position) -> yaml.Mark:
    return yaml.Mark("<document>", 0, position[0] - 1, position[1] - 1, None, 0)
