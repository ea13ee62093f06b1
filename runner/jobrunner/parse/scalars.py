"""YAML 1.1 scalars: the tag a scalar gets, and the value it holds.

Plain scalars are typed by their look (`42` an int, `yes` a bool, `~`
null), exactly as PyYAML's safe loader types them; quoted ones are strings.
Timestamps stay the strings the operator wrote (`schedule` parses times).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SafeConstructor = yaml.constructor.SafeConstructor
_CONSTRUCTORS = {  # the tags whose values are not the text itself
    INT: _SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _SafeConstructor.construct_yaml_null,
}
SCALAR_TAGS = frozenset({STR, _TIMESTAMP, *_CONSTRUCTORS})
COLLECTION_TAGS = frozenset({MAP, SEQ})
UNFIT = object()  # the value of a scalar whose tag is not ours, or does not fit it (`!!int abc`)

_constructor = _SafeConstructor()
_resolve: Callable[[type, str, tuple[bool, bool]], str] = yaml.resolver.Resolver().resolve
# A job file's words repeat, so each is resolved once; a hot loop may read this first.
plain_tags_seen: dict[str, str] = {}
_PLAIN_TAGS_KEPT = 1 << 16


def plain_tag(text: str) -> str:
    """The tag of an untagged plain scalar; `STR` or `INT` themselves, so `is` can test them."""
    tag = plain_tags_seen.get(text)
    if tag is None:
        if len(plain_tags_seen) >= _PLAIN_TAGS_KEPT:
            plain_tags_seen.clear()
        tag = _resolve(yaml.ScalarNode, text, (True, False))
        tag = plain_tags_seen[text] = STR if tag == STR else INT if tag == INT else tag
    return tag


def tag_of(event: Any) -> str:
    """The tag of the scalar `event` (a PyYAML `ScalarEvent`): its own, or the one it gets."""
    if event.tag is not None and event.tag != "!":
        return str(event.tag)
    if event.implicit[0]:
        return plain_tag(event.value)
    return _resolve(yaml.ScalarNode, event.value, event.implicit)


def value_of(tag: str, event: Any) -> Any:
    """The value of the scalar `event` with `tag`, or `UNFIT`."""
    if tag not in SCALAR_TAGS:
        return UNFIT
    construct = _CONSTRUCTORS.get(tag)
    if construct is None:  # a string, or a timestamp kept as written
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return construct(_constructor, node)
    except (ValueError, KeyError, IndexError):  # `!!int abc`, `!!bool maybe`
        return UNFIT
