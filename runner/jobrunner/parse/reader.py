"""YAML text to plain values, in one pass over the C parser's events.

PyYAML's composer recurses in C (deep nesting crashes the process), and its
constructors forget positions, silently keep the last of two duplicate keys
and expand aliases without bound. `read` builds the values itself, with a
stack instead of recursion, recording where each value and key was written:
nesting is bounded as it goes, duplicate keys and unknown tags are refused,
and aliases and merges go through `anchors`, which counts what they repeat.

Reading stops at the first mistake; the rest of the stream is only checked
for weightier ones. The one reported is a syntax error or too deep a
nesting, whichever comes first, then the composer's own errors (an undefined
alias, a duplicate anchor, a second document), then the first other mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from jobrunner.parse import scalars
from jobrunner.parse.anchors import Anchor, Anchors, Source
from jobrunner.parse.nodes import MAX_DEPTH, TOO_DEEP, Path, Position, Read, Refused
from jobrunner.parse.scalars import INT, STR, UNFIT

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_TAG_HINT = "remove the tag: job files hold plain strings, numbers, booleans, lists and mappings"


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
    merges: tuple[Source, ...] = ()  # the mappings its `<<` names


class _TooDeep(Refused):
    """Too deep a nesting: reported at once, like a syntax error."""


class _Reader:
    """Reads one stream of events into a value, its positions, and its weightiest mistake."""

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.anchors = Anchors(self.values, self.keys)
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
            except _TooDeep:
                raise
            except Refused as refused:
                self.refused = refused
                self._check_rest(get, until=yaml.DocumentEndEvent)
            except yaml.composer.ComposerError as error:
                self.composer_error = error
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
            elif isinstance(event, yaml.AliasEvent) and event.anchor not in self.anchors.named:
                self._keep(_undefined(event))
            elif isinstance(event, yaml.DocumentStartEvent):
                self.anchors.named.clear()
                self._keep(_second_document(self.root_position, event))
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and event.anchor:
                name, position = event.anchor, _pos(event.start_mark)
                self._keep(self.anchors.define(name, position, event.start_mark))

    def _keep(self, error: yaml.MarkedYAMLError | None) -> None:
        """Keep the composer's first error: it outweighs any mistake of ours."""
        if self.composer_error is None:
            self.composer_error = error

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
            self._define(event, Anchor(value, event.value, tag, path, position))
        if tag not in scalars.SCALAR_TAGS:
            _refuse_tag(position, tag, path)
        if value is UNFIT:
            _refuse_tag(position, tag, path, event.value)
        self.values.setdefault(path, position)
        self._place(frame, value, position)

    def _key(self, frame: _Frame, event: Any) -> None:
        tag = scalars.tag_of(event)
        position = _pos(event.start_mark)
        if event.anchor is not None:
            value = scalars.value_of(tag, event)
            self._define(event, Anchor(value, event.value, tag, (), position))
        self._set_key(frame, event.value, tag, position)

    def _set_key(self, frame: _Frame, key: str, tag: str, position: Position) -> None:
        """Take `key` as the next key of `frame`: a plain string, said once, or `<<`."""
        if tag == scalars.MERGE:
            frame.key, frame.merge = "<<", True
            return
        if tag not in scalars.SCALAR_TAGS:
            _refuse_tag(position, tag, frame.path)
        path = (*frame.path, key)
        if key in frame.value:
            line, column = self.keys[path]
            raise Refused(
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
        if _expects_key(frame):
            assert frame is not None
            self.stack.append(_Frame(None, (), position, None))
            _refuse_key(position, frame.path)
        path = self._child_path(frame)
        mapping = event.__class__ is yaml.MappingStartEvent
        self.stack.append(_Frame({} if mapping else [], path, position, event.anchor))
        if event.anchor is not None:
            self._define(event, position)
        tag = event.tag
        if tag is not None and tag != "!" and tag not in scalars.COLLECTION_TAGS:
            _refuse_tag(position, tag, path)
        self.values.setdefault(path, position)

    def _close(self, frame: _Frame) -> None:
        for source in frame.merges:
            self.anchors.merge(frame.value, frame.path, source)
        if frame.anchor is not None:
            tag = scalars.MAP if type(frame.value) is dict else scalars.SEQ
            anchor = Anchor.of(frame.value, frame.path, frame.position, tag)
            self.anchors.named[frame.anchor] = anchor
        self._place(self.stack[-1] if self.stack else None, frame.value, frame.position)

    def _alias(self, event: Any) -> None:
        frame = self.stack[-1] if self.stack else None
        anchor = self.anchors.named.get(event.anchor)
        if anchor is None:
            raise _undefined(event)
        if _expects_key(frame):  # `*name: value`: the anchor must be a scalar
            assert frame is not None
            if not isinstance(anchor, Anchor) or anchor.text is None:
                _refuse_key(anchor if isinstance(anchor, tuple) else anchor.position, frame.path)
            self._set_key(frame, anchor.text, anchor.tag, anchor.position)
            return
        path = self._child_path(frame)
        if isinstance(anchor, Anchor) and anchor.value is UNFIT:
            _refuse_tag(anchor.position, anchor.tag, path, anchor.text)
        value = self.anchors.repeat(anchor, path, _pos(event.start_mark))
        assert isinstance(anchor, Anchor)  # a collection still being read is refused above
        self._place(frame, value, anchor.position)

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
            frame.merges += self.anchors.sources(value, (*frame.path, "<<"))
            frame.key = None
        else:
            frame.value[frame.key] = value
            frame.key = None

    def _define(self, event: Any, anchor: Anchor | Position) -> None:
        """Define `event`'s anchor (as its position while its collection is being read)."""
        error = self.anchors.define(event.anchor, anchor, event.start_mark)
        if error is not None:
            raise error


def _bound_depth(depth: int, event: Any) -> None:
    if depth >= MAX_DEPTH:
        raise _TooDeep(_pos(event.start_mark), "yaml-depth", *TOO_DEEP)


def _expects_key(frame: _Frame | None) -> bool:
    return frame is not None and type(frame.value) is dict and frame.key is None


def _refuse_key(position: Position, path: Path) -> NoReturn:
    raise Refused(
        position,
        "yaml-key",
        "a mapping key must be a plain string, not a list or a mapping",
        "write one entry per name; share their settings with an anchor and `<<`",
        path,
    )


def _refuse_tag(position: Position, tag: str, path: Path, text: str | None = None) -> NoReturn:
    """A tag we do not read, or (`text`) a value its tag does not fit, like `!!int abc`."""
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    if text is None:
        raise Refused(position, "yaml-tag", f"unsupported YAML tag '{shown}'", _TAG_HINT, path)
    message = f"'{text}' is not a value of the YAML tag '{shown}'"
    raise Refused(
        position, "yaml-tag", message, "remove the tag, or write a value of that type", path
    )


def _second_document(first: Position, event: Any) -> yaml.MarkedYAMLError:
    return yaml.composer.ComposerError(
        "expected a single document in the stream",
        _mark(first),
        "but found another document",
        event.start_mark,
    )


def _undefined(event: Any) -> yaml.MarkedYAMLError:
    return yaml.composer.ComposerError(None, None, "found undefined alias", event.start_mark)


def _pos(mark: Any) -> Position:
    return mark.line + 1, mark.column + 1


def _mark(position: Position) -> yaml.Mark:
    return yaml.Mark("<document>", 0, position[0] - 1, position[1] - 1, None, 0)
