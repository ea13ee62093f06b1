"""The storage's ground: the queues it knows (jr:queues), one look at whether any of
their keys exists, and its errors made StorageError.

Every queue a process uses is added to jr:queues once a minute at most, so the set
survives a FLUSHALL; a jr:queues of the wrong type is set aside and rebuilt from the
queues' keys. `_guard` turns what the client raises into a StorageError naming the
(redacted) URL: the one error a caller of the storage handles.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.exceptions import ClusterCrossSlotError, RedisClusterException

from jobrunner.storage.base import StorageError
from jobrunner.storage.redis.connect import scrub, trouble
from jobrunner.storage.redis.contain import Containment
from jobrunner.storage.redis.keys import QUEUES, bad_data
from jobrunner.storage.redis.looks import ExistsLooks
from jobrunner.storage.redis.replies import text
from jobrunner.storage.signing import Keys

REGISTER_EVERY = 60.0  # seconds between re-adding a queue this process uses to jr:queues


class Registry(Containment):
    """The known queues and the guard around every storage call (RedisStorage's base)."""

    keys: Keys | None
    _registered: dict[str, float]  # queue -> when this process last added it to jr:queues
    _names: tuple[set[Any], list[str]]  # jr:queues as last read, and its names sorted
    _spans_slots: bool  # a command may name keys of several slots (no cluster)
    _looks: ExistsLooks | None  # None: a cluster client

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn the client's errors into StorageError naming the (redacted) URL."""
        try:
            yield
        except redis.AuthenticationError as exc:
            raise StorageError(
                f"{self.url} refused our credentials while {doing}: "
                f"{scrub(str(exc), self._raw_url)} (check the password in the storage URL)"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError, RedisClusterException) as exc:
            raise StorageError(
                f"cannot reach {self.url} while {doing}: {scrub(trouble(exc), self._raw_url)}"
            ) from None
        except redis.RedisError as exc:
            raise StorageError(
                f"{self.url} failed while {doing}: {scrub(str(exc), self._raw_url)}"
            ) from None

    def _queues(self) -> list[str]:
        """The registered queues, sorted (decoded and sorted again only when they change:
        an idle daemon's chores read a thousand names every few seconds)."""
        names: set[Any]
        try:
            names = self._client.smembers(QUEUES)
        except redis.ResponseError as exc:
            if not bad_data(exc):
                raise
            names = self._rebuild_queues()
        known, listed = self._names
        if names != known:
            listed = sorted(text(q) for q in names)
            self._names = names, listed
        return list(listed)

    def _register(self, queue: str) -> None:
        """Add `queue` to jr:queues, once a minute at most (it survives a FLUSHALL)."""
        now = time.monotonic()
        if self._registered.get(queue, -REGISTER_EVERY) + REGISTER_EVERY <= now:
            try:
                self._client.sadd(QUEUES, queue)
            except redis.ResponseError as exc:
                if not bad_data(exc):
                    raise
                self._rebuild_queues()
                self._client.sadd(QUEUES, queue)
            self._registered[queue] = now

    def _rebuild_queues(self) -> set[bytes]:
        """jr:queues of the wrong type: set it aside, and list the queues from their keys."""
        self._set_shared_aside(QUEUES, "set")
        names = set()
        for key in self._client.scan_iter(match="jr:{*", count=1000):
            tag, sep, _ = key[len(b"jr:{") :].partition(b"}:")
            if sep:
                names.add(tag)
        if names:
            self._client.sadd(QUEUES, *names)
        return names

    def _none_exist(self, queues: Sequence[str], *names: str) -> bool:
        """Whether no key `names` of any queue of `queues` exists, asked with one EXISTS
        (`ExistsLooks`): an idle daemon's looks at a thousand queues' pause and lease keys
        mostly find none, and then cost one command, not one each. A key of any type
        counts (an empty set or sorted set does not exist), so the full look still meets
        what a stray writer left. On a cluster, whose client splits a multi-key EXISTS
        into a round trip per slot, and on a cluster-enabled server (CROSSSLOT), the full
        look is cheaper, or the only one."""
        if not queues:
            return True
        if not self._spans_slots or self._looks is None:
            return False
        try:
            return self._looks.count(queues, names) == 0
        except ClusterCrossSlotError:
            self._spans_slots = False
            return False
