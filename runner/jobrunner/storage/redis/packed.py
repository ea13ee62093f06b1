"""Commands sent as packed bytes through a client's own pool, with its own retry.

redis-py's `execute_command` checks and encodes each argument, times the call for its
observability hooks and wraps it in closures: for a script call of twenty arguments
that is about as much client CPU again as the round trip itself. The storage's
arguments are bytes already (enqueue.py, keys.py), so `call` packs them with hiredis in
one step and sends them on a pooled connection; a lost connection is retried as
redis-py retries it (the connection's `Retry`, which reconnects), and an error reply is
raised as redis-py raises it (`NoScriptError`, `ResponseError`). A command packed once
and sent many times (`ExistsLooks`) skips the packing too.

A one-server or Sentinel client only: a cluster client routes each command by its
keys' slot, which the storage leaves to redis-py.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis

from jobrunner.storage.redis.keys import encoded


def pack(*args: bytes | str | int | float) -> list[bytes]:
    """The command `args` in the wire format, text encoded as the client encodes it (a
    name read back with surrogate escapes goes back as the bytes it was)."""
    try:
        return [_pack(args)]
    except UnicodeEncodeError:
        return [_pack(tuple(_bytes(arg) for arg in args))]


# hiredis's stub types its argument as a tuple of one item; it takes any number
_pack: Any = hiredis.pack_command


def _bytes(arg: bytes | str | int | float) -> bytes | int | float:
    return encoded(arg) if isinstance(arg, str) else arg


class Packed:
    """Sends packed commands through `client`'s pool (see the module docstring)."""

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool

    def call(self, packed: list[bytes]) -> Any:
        """The reply to one packed command; an error reply is raised."""
        conn: Any = self._pool.get_connection()
        try:
            return conn.retry.call_with_retry(
                lambda: _ask(conn, packed), lambda _error: conn.disconnect()
            )
        finally:
            self._pool.release(conn)


def _ask(conn: Any, packed: list[bytes]) -> Any:
    conn.send_packed_command(packed)
    return conn.read_response()
