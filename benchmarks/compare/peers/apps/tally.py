"""What every system's no-op job does: count itself on the tally redis-server.

The tally is a second redis-server, so counting completions costs every
system the same one INCR and leaves the measured server's commandstats alone.
The job that makes the count 1 stamps `first`, the one that makes it
BENCH_TOTAL stamps `last`: the drain is timed between the two, without
polling and without the workers' start-up.
"""

from __future__ import annotations

import os
import time

import redis

_tally: redis.Redis | None = None


def _client() -> redis.Redis:
    global _tally
    if _tally is None:  # one connection pool per process, made after any fork
        _tally = redis.Redis.from_url(os.environ["BENCH_TALLY_URL"])
    return _tally


def done() -> None:
    count = _client().incr("done")
    if count == 1:
        _client().set("first", time.time())
    if count == int(os.environ.get("BENCH_TOTAL", "0")):
        _client().set("last", time.time())


def enqueued(count: int) -> None:
    """A producer's progress, so a report can tell when a system was producer-bound."""
    _client().incrby("enqueued", count)
