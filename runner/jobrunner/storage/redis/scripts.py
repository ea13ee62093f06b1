"""The Lua scripts of the Redis storage (`lua/*.lua`): each one is one atomic step on one queue.

Every queue script receives the same six keys, all under the queue's hash tag
(so a script touches one cluster slot only):

    KEYS[1] jr:{Q}:ready       zset  job id -> priority * 1e13 + seq (ZPOPMIN = next job)
    KEYS[2] jr:{Q}:scheduled   zset  job id -> run_at (epoch seconds)
    KEYS[3] jr:{Q}:leased      zset  job id -> lease expiry (epoch seconds)
    KEYS[4] jr:{Q}:seq         counter: FIFO order, delivery numbers, rate-log members
    KEYS[5] jr:{Q}:dead        zset  job id -> the dead record's `updated` (listing order)
    KEYS[6] jr:{Q}:dead-until  zset  job id -> end of retention (for `expire`)

and a seventh where it needs one (the owner's set jr:{Q}:owner:OWNER, or the
idempotency key jr:{Q}:idem:KEY). ARGV[1] is the prefix `jr:{Q}:`, from
which a script derives the keys named by job ids: the job hash
jr:{Q}:job:ID (fields: msg, score, n, owner, dlv, rec, state, updated,
run_at), the owner sets, and the wake channel jr:{Q}:wake. All times come
from Redis `TIME`, never from a host clock; Lua numbers reach Redis as
"%.17g" text, so they keep full precision, but a float *returned* by a script
would be truncated to an integer: times are returned as strings.

`prelude.lua` holds the helpers every queue script shares (the clock, the job
hash, adding to ready or scheduled, ending a delivery, writing a dead record);
it is prepended to each script but `take.lua`, which needs none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib.resources import files

import redis
from redis.commands.core import Script

STANDALONE = {"take"}  # scripts that do without the prelude


def source(name: str) -> str:
    """The text of script `name` as Redis runs it (the prelude first, where it needs one)."""
    folder = files("jobrunner.storage.redis") / "lua"
    text = (folder / f"{name}.lua").read_text(encoding="utf-8")
    if name in STANDALONE:
        return text
    return (folder / "prelude.lua").read_text(encoding="utf-8") + text


@dataclass(frozen=True, slots=True)
class Scripts:
    """The Lua scripts, loaded once per client (EVALSHA, loaded again on NOSCRIPT)."""

    enqueue: Script
    lease: Script
    extend: Script
    ack: Script
    retry: Script
    bury: Script
    release: Script
    expired: Script
    requeue_lost: Script
    replay: Script
    purge: Script
    expire_dead: Script
    stats: Script
    take: Script

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(**{f.name: client.register_script(source(f.name)) for f in fields(cls)})
