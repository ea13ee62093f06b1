"""YAML events to plain values, keeping where each value and key was written.

PyYAML's composer recurses in C (deep nesting crashes the process), its
constructors forget positions, silently keep the last of two duplicate keys
and expand aliases without bound. `read` builds the values itself, in one
pass over the C parser's events, with a stack instead of recursion: nesting
is bounded as it goes, duplicate keys, unknown tags and recursive aliases are
refused, and alias expansion is counted, so a "billion laughs" file fails in
milliseconds.

When a file holds several mistakes, the weightiest is reported: a syntax
error or too deep a nesting, whichever comes first, then the composer's own
errors (an undefined alias, a duplicate anchor, a second document), then the
first other mistake in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from jobrunner import scalars
from jobrunner.scalars import INT, STR, UNFIT

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

_TAG_HINT = "remove the tag: job files hold plain strings, numbers, booleans, lists and mappings"


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


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence being read."""

    value: Any  # the dict or list being filled
    path: Path
    position: Position
    anchor: str | None
    key: str | None = None  # in a mapping: the key whose value comes next
    merge: bool = False  # that key is `<<`
    merges: tuple[_Source, ...] = ()  # the mappings its `<<` names


@dataclass(frozen=True, slots=True)
class _Source:
    """A mapping named by a `<<` merge key, read at `path`; `alias`: where its alias was."""

    value: dict[str, Any]
    path: Path
    alias: Position | None


@dataclass(frozen=True, slots=True)
class _Anchor:
    """A node with an `&anchor`, kept for the aliases that repeat it."""

    value: Any
    text: str | None  # a scalar's text, for an alias used as a mapping key
    tag: str
    path: Path  # where it was read: the positions of its parts are recorded below it
    position: Position
    size: int = 1  # values it holds: what each alias adds to the expansion count
    depth: int = 0  # levels of nesting below it


class _Stop(Exception):
    """The first mistake is recorded: from here on the stream is only checked."""


class _Reader:
    """Reads one stream of events into a value, its positions, and its weightiest mistake."""

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.anchors: dict[str, _Anchor | Position] = {}  # a Position: still being read
        self.aliases: dict[Path, Position] = {}  # where each alias was written
        self.expanded = 0
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.root_position: Position = (1, 1)
        self.refused: Refused | None = None
        self.composer_error: yaml.MarkedYAMLError | None = None

    def read(self, text: str) -> Read | None:
        parser = _Loader(text)
        try:
            get = parser.get_event
            get()  # the stream starts
            if isinstance(get(), yaml.StreamEndEvent):
                return None
            try:
                self._document(get)
            except _Stop:
                self._check_rest(get, until=yaml.DocumentEndEvent)
            self._check_rest(get, until=yaml.StreamEndEvent)
        finally:
            parser.dispose()
        if self.composer_error:
            raise self.composer_error
        if self.refused:
            raise self.refused
        return Read(self.root, self.values, self.keys)

    def _document(self, get: Callable[[], Any]) -> None:
        """Read the events of the document until it ends.

        Plain keys and plain string values, nine in ten of a job file's
        events, are recorded here; the rest goes through the methods below.
        """
        stack, values, keys = self.stack, self.values, self.keys
        plain_tags = scalars.plain_tags_seen
        scalar_event, alias_event, document_end = (
            yaml.ScalarEvent,
            yaml.AliasEvent,
            yaml.DocumentEndEvent,
        )
        end_events = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        mapping_start = yaml.MappingStartEvent
        while True:
            event = get()
            kind = event.__class__
            if kind is scalar_event:
                if not stack or event.tag is not None or event.anchor is not None:
                    self._tagged(event)
                    continue
                frame = stack[-1]
                text = event.value
                plain = event.implicit[0]
                tag = (plain_tags.get(text) or scalars.plain_tag(text)) if plain else STR
                container = frame.value
                if type(container) is not list and frame.key is None:
                    if tag is not STR or text in container:
                        self._key(frame, event)
                        continue
                    mark = event.start_mark
                    keys[frame.path + (text,)] = (mark.line + 1, mark.column + 1)
                    frame.key, frame.merge = text, False
                    continue
                if tag is STR:
                    value: Any = text
                elif tag is INT and text.isdigit() and (text[0] != "0" or text == "0"):
                    value = int(text)  # decimal; YAML 1.1 reads a leading 0 as octal
                else:
                    self._scalar(frame, event)
                    continue
                if type(container) is list:
                    path = frame.path + (len(container),)
                    container.append(value)
                elif frame.merge:
                    self._scalar(frame, event)
                    continue
                else:
                    assert frame.key is not None  # a key without one was read above
                    path = frame.path + (frame.key,)
                    container[frame.key] = value
                    frame.key = None
                mark = event.start_mark
                values[path] = (mark.line + 1, mark.column + 1)
            elif kind in end_events:
                self._close(stack.pop())
            elif kind is alias_event:
                self._alias(event)
            elif kind is document_end:
                return
            elif event.tag is None and event.anchor is None and 0 < len(stack) < MAX_DEPTH:
                frame = stack[-1]  # the usual collection: an untagged value, not a key
                container = frame.value
                if type(container) is list:
                    path = frame.path + (len(container),)
                elif frame.key is not None:
                    path = frame.path + (frame.key,)
                else:
                    self._open(event)
                    continue
                mark = event.start_mark
                position = (mark.line + 1, mark.column + 1)
                values[path] = position
                value = {} if kind is mapping_start else []
                stack.append(_Frame(value, path, position, None))
            else:
                self._open(event)

    def _check_rest(self, get: Callable[[], Any], until: type) -> None:
        """After the first mistake: only the nesting bound and the composer's errors are left."""
        depth = len(self.stack)
        while not isinstance(event := get(), until):
            if isinstance(event, yaml.CollectionStartEvent):
                _bound_depth(depth, event)
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent) and event.anchor not in self.anchors:
                self._composer_error("found undefined alias", event)
            elif isinstance(event, yaml.DocumentStartEvent):
                self.anchors = {}
                self._composer_error(
                    "expected a single document in the stream",
                    event,
                    self.root_position,
                    "but found another document",
                )
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and event.anchor:
                self._define(event, _pos(event.start_mark))

    # -- nodes

    def _tagged(self, event: Any) -> None:
        """A scalar with a tag or an anchor, or one that is the whole document."""
        frame = self.stack[-1] if self.stack else None
        if _expects_key(frame):
            assert frame is not None
            self._key(frame, event)
        else:
            self._scalar(frame, event)

    def _scalar(self, frame: _Frame | None, event: Any) -> None:
        position = _pos(event.start_mark)
        path = self._child_path(frame)
        tag = scalars.tag_of(event)
        value = scalars.value_of(tag, event)
        if event.anchor is not None:
            self._define(event, _Anchor(value, event.value, tag, path, position))
        if tag not in scalars.SCALAR_TAGS:
            self._refuse_tag(position, tag, path)
        if value is UNFIT:
            self._refuse_tag(position, tag, path, event.value)
        self.values.setdefault(path, position)
        self._place(frame, value, position)

    def _key(self, frame: _Frame, event: Any) -> None:
        tag = scalars.tag_of(event)
        position = _pos(event.start_mark)
        if event.anchor is not None:
            value = scalars.value_of(tag, event)
            self._define(event, _Anchor(value, event.value, tag, (), position))
        self._set_key(frame, event.value, tag, position)

    def _set_key(self, frame: _Frame, key: str, tag: str, position: Position) -> None:
        """Take `key` as the next key of `frame`: a plain string, said once, or `<<`."""
        if tag == scalars.MERGE:
            frame.key, frame.merge = "<<", True
            return
        if tag not in scalars.SCALAR_TAGS:
            self._refuse_tag(position, tag, frame.path)
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
        self.keys[path] = position
        frame.key, frame.merge = key, False

    def _open(self, event: Any) -> None:
        _bound_depth(len(self.stack), event)
        position = _pos(event.start_mark)
        frame = self.stack[-1] if self.stack else None
        if event.anchor is not None:
            self._define(event, position)
        if _expects_key(frame):
            assert frame is not None
            self.stack.append(_Frame(None, (), position, None))
            self._refuse_key(position, frame.path)
        path = self._child_path(frame)
        mapping = event.__class__ is yaml.MappingStartEvent
        self.stack.append(_Frame({} if mapping else [], path, position, event.anchor))
        tag = event.tag
        if tag is not None and tag != "!" and tag not in scalars.COLLECTION_TAGS:
            self._refuse_tag(position, tag, path)
        self.values.setdefault(path, position)

    def _close(self, frame: _Frame) -> None:
        for source in frame.merges:
            self._merge(frame, source)
        if frame.anchor is not None:
            size, depth = _measure(frame.value)
            value, path, position = frame.value, frame.path, frame.position
            self.anchors[frame.anchor] = _Anchor(
                value, None, scalars.MAP, path, position, size, depth
            )
        self._place(self.stack[-1] if self.stack else None, frame.value, frame.position)

    def _alias(self, event: Any) -> None:
        position = _pos(event.start_mark)
        frame = self.stack[-1] if self.stack else None
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            self._composer_error("found undefined alias", event)
            raise _Stop
        if _expects_key(frame):
            assert frame is not None
            if not isinstance(anchor, _Anchor) or anchor.text is None:
                self._refuse_key(
                    anchor if isinstance(anchor, tuple) else anchor.position, frame.path
                )
            self._set_key(frame, anchor.text, anchor.tag, anchor.position)
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
        if anchor.value is UNFIT:
            self._refuse_tag(anchor.position, anchor.tag, path, anchor.text)
        if len(path) + anchor.depth > MAX_DEPTH:
            self._refuse(position, "yaml-depth", *TOO_DEEP, path)
        self._expand(anchor.size, position, path)
        self._repeat(anchor.value, anchor.path, path, anchor.position)
        self._place(frame, _copy(anchor.value), anchor.position)

    def _merge(self, frame: _Frame, source: _Source) -> None:
        """Add the keys of a `<<` merge source that the mapping does not set itself."""
        mapping = frame.value
        for key, value in source.value.items():
            if key in mapping:
                continue
            if source.alias is not None:  # what it repeats counts as an alias's expansion
                self._expand(_measure(value)[0], source.alias, source.path)
            at, to = (*source.path, key), (*frame.path, key)
            self.keys[to] = self.keys[at]
            self._repeat(value, at, to, self.values[at])
            mapping[key] = _copy(value)

    def _merge_sources(self, merged: Any, where: Path) -> list[_Source]:
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
            sources.append(_Source(source, at, self.aliases.get(at) or self.aliases.get(where)))
        return sources

    # -- bookkeeping

    def _child_path(self, frame: _Frame | None) -> Path:
        if frame is None:
            return ()
        if type(frame.value) is list:
            return frame.path + (len(frame.value),)
        assert frame.key is not None  # a value follows its key
        return frame.path + (frame.key,)

    def _place(self, frame: _Frame | None, value: Any, position: Position) -> None:
        """Put a finished value in the collection being read, or make it the document."""
        if frame is None:
            self.root, self.root_position = value, position
        elif type(frame.value) is list:
            frame.value.append(value)
        elif frame.merge:
            frame.merges += tuple(self._merge_sources(value, (*frame.path, "<<")))
            frame.key = None
        else:
            frame.value[frame.key] = value
            frame.key = None

    def _repeat(self, value: Any, old: Path, new: Path, position: Position) -> None:
        """Record the positions of `value`, read at `old`, again at `new`."""
        self.values.setdefault(new, position)
        if type(value) is dict:
            for key, item in value.items():
                self.keys[(*new, key)] = self.keys[(*old, key)]
                self._repeat(item, (*old, key), (*new, key), self.values[(*old, key)])
        elif type(value) is list:
            for index, item in enumerate(value):
                self._repeat(item, (*old, index), (*new, index), self.values[(*old, index)])

    def _define(self, event: Any, anchor: _Anchor | Position) -> None:
        """Define `event`'s anchor (as its position while its collection is being read)."""
        name = event.anchor
        if name in self.anchors:
            first = self.anchors[name]
            line, column = first.position if isinstance(first, _Anchor) else first
            self._composer_error(
                f"found duplicate anchor '&{name}' (first at {line}:{column})", event
            )
        self.anchors[name] = anchor

    def _expand(self, size: int, position: Position, path: Path) -> None:
        """Count the values aliases repeat; refuse one expansion too many."""
        self.expanded += size
        if self.expanded > MAX_ALIAS_NODES:
            self._refuse(
                position,
                "yaml-alias",
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values "
                "(nested aliases multiply: an 'alias bomb')",
                "use file-level `defaults:` instead of deeply nested anchors",
                path,
            )

    # -- mistakes: the first is recorded, and reading stops

    def _refuse(
        self, position: Position, code: str, message: str, hint: str, path: Path
    ) -> NoReturn:
        self.refused = Refused(position, code, message, hint, path)
        raise _Stop

    def _refuse_key(self, position: Position, path: Path) -> NoReturn:
        self._refuse(
            position,
            "yaml-key",
            "a mapping key must be a plain string, not a list or a mapping",
            "write one entry per name; share their settings with an anchor and `<<`",
            path,
        )

    def _refuse_tag(
        self, position: Position, tag: str, path: Path, text: str | None = None
    ) -> NoReturn:
        """A tag we do not read, or (`text`) a value its tag does not fit, like `!!int abc`."""
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        if text is None:
            self._refuse(position, "yaml-tag", f"unsupported YAML tag '{shown}'", _TAG_HINT, path)
        message = f"'{text}' is not a value of the YAML tag '{shown}'"
        self._refuse(
            position, "yaml-tag", message, "remove the tag, or write a value of that type", path
        )

    def _composer_error(
        self, context: str, event: Any, first: Position | None = None, problem: str = ""
    ) -> None:
        """PyYAML's composer's own errors, worded as it words them; the first is kept."""
        if self.composer_error is not None:
            return
        if first is None:
            self.composer_error = yaml.composer.ComposerError(None, None, context, event.start_mark)
        else:
            self.composer_error = yaml.composer.ComposerError(
                context, _mark(first), problem, event.start_mark
            )


def _bound_depth(depth: int, event: Any) -> None:
    """Too deep a nesting is refused at once, like a syntax error."""
    if depth >= MAX_DEPTH:
        raise Refused(_pos(event.start_mark), "yaml-depth", *TOO_DEEP)


def _expects_key(frame: _Frame | None) -> bool:
    return frame is not None and type(frame.value) is dict and frame.key is None


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


def _pos(mark: Any) -> Position:
    return mark.line + 1, mark.column + 1


def _mark(position: Position) -> yaml.Mark:
    return yaml.Mark("<document>", 0, position[0] - 1, position[1] - 1, None, 0)
