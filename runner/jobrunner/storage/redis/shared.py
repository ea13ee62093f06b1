"""What the daemons of a deployment share through Redis, outside any queue.

    jr:config           the published configuration (JSON, signed when keys are set)
    jr:value:KEY        a small JSON value (cron state, last good files)
    jr:claim:KEY        a claim: the first SET NX of KEY wins for its TTL
    jr:daemons          set of daemon names; jr:daemon:NAME their heartbeat (JSON, with a TTL)

A value that does not read (another type, bytes that are not JSON) is a ValueError,
which callers treat as never written; a heartbeat that does not read is listed with
the reason under `unreadable`; a jr:daemons of the wrong type is set aside and rebuilt
by the next beats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import redis

from jobrunner.storage.redis.connect import Client
from jobrunner.storage.redis.keys import CONFIG, DAEMONS, bad_data, kind, ms
from jobrunner.storage.redis.registry import Registry
from jobrunner.storage.redis.replies import text
from jobrunner.storage.signing import Keys, dump_value, load_value


class Shared(Registry):
    """The configuration, values, claims and heartbeats (RedisStorage's base)."""

    def publish(self, document: Mapping[str, Any]) -> None:
        with self._guard("publishing the configuration"):
            self._write(lambda pipe: pipe.set(CONFIG, dump_value(self.keys, document)))

    def published(self) -> dict[str, Any] | None:
        with self._guard("reading the published configuration"):
            raw = self._value(CONFIG)
        return None if raw is None else load(self.keys, raw, "published configuration")

    def _value(self, key: str) -> bytes | None:
        """A stored JSON value's bytes; ValueError when the key holds something else."""
        try:
            raw = self._client.get(key)
        except redis.ResponseError as exc:
            if not bad_data(exc):
                raise
            got = text(self._client.type(key))
            raise ValueError(
                f"{key} holds {kind(got)}, not the JSON text jobrunner writes there"
            ) from None
        return raw if isinstance(raw, bytes) else None

    def claim(self, key: str, ttl: float) -> bool:
        with self._guard(f"claiming {key}"):
            return bool(self._client.set(f"jr:claim:{key}", 1, nx=True, px=ms(ttl)))

    def get_value(self, key: str) -> Any:
        with self._guard(f"reading {key}"):
            raw = self._value(f"jr:value:{key}")
        return None if raw is None else load(self.keys, raw, f"value {key}")

    def set_value(self, key: str, value: Any) -> None:
        with self._guard(f"writing {key}"):
            self._write(lambda pipe: pipe.set(f"jr:value:{key}", dump_value(self.keys, value)))

    def beat(self, daemon: str, info: Mapping[str, Any], ttl: float) -> None:
        with self._guard(f"recording the heartbeat of {daemon}"):
            self._daemons_index(lambda pipe: pipe.sadd(DAEMONS, daemon))
            self._client.set(f"jr:daemon:{daemon}", json.dumps(info), px=ms(ttl))

    def leave(self, daemon: str) -> None:
        with self._guard(f"removing daemon {daemon}"):
            self._daemons_index(lambda pipe: pipe.srem(DAEMONS, daemon))
            self._client.delete(f"jr:daemon:{daemon}")

    def _daemons_index(self, change: Callable[[Client], Any]) -> Any:
        """Change jr:daemons; of the wrong type, it is set aside first (the beats rebuild it)."""
        try:
            return change(self._client)
        except redis.ResponseError as exc:
            if not bad_data(exc):
                raise
            self._set_shared_aside(DAEMONS, "set")
            return change(self._client)

    def daemons(self) -> list[dict[str, Any]]:
        """What each live daemon said of itself; a report that does not read says why."""
        with self._guard("listing daemons"):
            members = self._daemons_index(lambda client: client.smembers(DAEMONS))
            names = sorted(text(d) for d in members)
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.get(f"jr:daemon:{name}")
            infos = pipe.execute(raise_on_error=False)
            gone = [name for name, info in zip(names, infos, strict=True) if info is None]
            if gone:  # their key expired: the daemon stopped beating
                self._client.srem(DAEMONS, *gone)
        return [
            {**report(info), "id": name}
            for name, info in zip(names, infos, strict=True)
            if info is not None
        ]


def load(keys: Keys | None, raw: bytes, what: str) -> Any:
    """A stored JSON value; ValueError saying why when the bytes are not one."""
    try:
        return load_value(keys, raw, what)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the stored {what} is not JSON: {exc}") from None


def report(info: Any) -> dict[str, Any]:
    """A daemon's heartbeat as a dict; one that does not read says why, under `unreadable`."""
    if isinstance(info, redis.ResponseError):
        return {"unreadable": f"its heartbeat key does not hold JSON text: {info}"}
    try:
        data = json.loads(info)
    except (ValueError, RecursionError) as exc:
        return {"unreadable": f"its heartbeat is not JSON: {exc}"}
    if not isinstance(data, dict):
        return {"unreadable": f"its heartbeat is JSON {type(data).__name__}, not an object"}
    return data
