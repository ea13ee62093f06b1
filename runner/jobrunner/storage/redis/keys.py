"""The names of what jobrunner keeps in Redis, and what may be wrong with them.

The key layout is described at the top of store.py. Every key of queue Q shares the
hash tag `{Q}`, so each script touches one cluster slot. Anyone who can write to the
Redis may have put anything anywhere: the scripts check each key's type before they
write and fail with `BROKEN want got hex(key)` (lua/prelude.lua), which `wrong_key`
reads back; contain.py decides what to do about it.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import redis

from jobrunner.storage.base import StorageError

QUEUES, CONFIG, DAEMONS = "jr:queues", "jr:config", "jr:daemons"
# queue keys a stray key is set aside from: the queue can do without what they held
SPARE = (b"job:", b"owner:", b"idem:", b"rate", b"jobs", b"dlv", b"kept")
COUNTER = re.compile(rb"0|[1-9][0-9]{0,11}")  # what the scripts accept in jr:{Q}:seq
BROKEN = re.compile(r"BROKEN (\w+) (\w+) ([0-9a-f]*)")
BAD_DATA = ("WRONGTYPE", "not an integer", "not a valid float", "would overflow")
KINDS = {
    "zset": "a sorted set",
    "hash": "a hash",
    "set": "a set",
    "list": "a list",
    "string": "a string",
    "stream": "a stream",
    "counter": "a counter (a whole number)",
}


class QueueBroken(StorageError):
    """A key of one queue holds what jobrunner cannot use: that queue waits, the others go on."""

    def __init__(self, queue: str, reason: str, key: bytes | None = None, want: str = "") -> None:
        super().__init__(f"queue {queue} is broken in storage: {reason}")
        self.queue, self.reason = queue, reason
        self.key, self.want = key, want  # the key at fault, and what it should hold


def wrong_key(exc: redis.ResponseError) -> tuple[bytes, str, str] | None:
    """The key a script found of the wrong type, the type it wants and the one it has."""
    found = BROKEN.match(str(exc))
    if found is None:
        return None
    want, got, key = found.groups()
    return bytes.fromhex(key), want, got


def bad_data(exc: redis.ResponseError) -> bool:
    """Whether Redis refused a command for what a key holds (not for its own state)."""
    return wrong_key(exc) is not None or any(sign in str(exc) for sign in BAD_DATA)


def kind(name: str) -> str:
    return KINDS.get(name, f"a {name}")


def prefix(queue: str) -> str:
    return f"jr:{{{queue}}}:"


def queue_keys(queue: str) -> list[str]:
    p = prefix(queue)
    return [p + name for name in ("ready", "scheduled", "leased", "seq", "dead", "dead-until")]


def encoded(value: str) -> bytes:
    """A script argument as bytes, as the client encodes text (`surrogateescape`: a name
    read back from a stray writer's bytes goes back as those bytes). redis-py sends bytes
    as they are; an argument of another type it encodes itself, at a few thousand
    instructions each."""
    return value.encode("utf-8", "surrogateescape")


@lru_cache(maxsize=4096)
def queue_args(queue: str) -> tuple[bytes, tuple[bytes, ...]]:
    """The queue's prefix and its six keys (`queue_keys`) as script arguments, encoded once."""
    return encoded(prefix(queue)), tuple(map(encoded, queue_keys(queue)))


def paused_key(queue: str) -> str:
    return prefix(queue) + "paused"


def listing_key(queue: str) -> str:
    return prefix(queue) + "jobs"


def ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
