"""The Lua scripts of the Redis storage (`lua/*.lua`): each one is one atomic step on one queue.

Every queue script receives the same six keys, all under the queue's hash tag
(so a script touches one cluster slot only):

    KEYS[1] jr:{Q}:ready       zset  job id -> priority * 1e13 + seq (ZPOPMIN = next job)
    KEYS[2] jr:{Q}:scheduled   zset  job id -> run_at (epoch seconds)
    KEYS[3] jr:{Q}:leased      zset  job id -> lease expiry (epoch seconds)
    KEYS[4] jr:{Q}:seq         counter: FIFO order, delivery numbers, rate-log members
    KEYS[5] jr:{Q}:dead        zset  job id -> the dead record's `updated` (listing order)
    KEYS[6] jr:{Q}:dead-until  zset  job id -> end of retention (for `expire`)

and a seventh where it needs one (the owner's set jr:{Q}:owner:OWNER, the
idempotency key jr:{Q}:idem:KEY, the rate log jr:{Q}:rate, the key to set
aside, or the job listing jr:{Q}:jobs, a zset of job id -> creation time in
epoch seconds, for `enqueue`, `purge`, `jobs` and `sweep`); `lease` has an
eighth, the queue's pause jr:{Q}:paused, and `enqueue` (one to a thousand jobs a call, its
keys and arguments the wire format of docs/wire.md) the idempotency keys. ARGV[1] is
the prefix `jr:{Q}:`, from which a script derives the keys named by job ids: the job hash
jr:{Q}:job:ID (fields: msg, score, n, owner, dlv, rec, state, updated,
run_at, and `cancel` while a cancel of the running job is requested), the owner
sets, and the wake channel jr:{Q}:wake. All times come
from Redis `TIME`, never from a host clock; Lua numbers reach Redis as
"%.17g" text, so they keep full precision, but a float *returned* by a script
would be truncated to an integer: times are returned as strings.

`prelude.lua` holds the helpers every script shares (the clock, the job hash,
checking key types, adding to ready or scheduled, ending a delivery, writing a
dead record); it is prepended to each script.

Whatever is in Redis may have been written by someone else: before its first
write, a script checks the type of every key it will use (and that the
counter holds an integer), where it can by the read it needs anyway (`read` in
the prelude: the HMGET that reads a job hash proves its type, so leasing and
acknowledging pay no TYPE a job), and stops with `BROKEN want got key-in-hex` on
the first that is wrong, so a stray writer's key never leaves a step half
done. store.py sets aside a key the queue can do without (`aside.lua`: a job
hash, an owner set, an idempotency key, the rate log) and calls again; any
other key marks the queue broken (`stats` says why) until someone fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib.resources import files

import redis
from redis.commands.core import Script


def source(name: str) -> str:
    """The text of script `name` as Redis runs it (the prelude first)."""
    folder = files("jobrunner.storage.redis") / "lua"
    text = (folder / f"{name}.lua").read_text(encoding="utf-8")
    return (folder / "prelude.lua").read_text(encoding="utf-8") + text


@dataclass(frozen=True, slots=True)
class Scripts:
    """The Lua scripts, loaded once per client (EVALSHA, loaded again on NOSCRIPT)."""

    enqueue: Script
    lease: Script
    extend: Script
    ack_many: Script
    retry: Script
    bury: Script
    release: Script
    expired: Script
    requeue_lost: Script
    replay: Script
    purge: Script
    expire_dead: Script
    forget: Script
    stats: Script
    take: Script
    cancel: Script
    aside: Script
    jobs: Script
    sweep: Script
    trim: Script
    history: Script

    @classmethod
    def register(cls, client: redis.Redis | redis.RedisCluster) -> Scripts:
        return cls(**{f.name: client.register_script(source(f.name)) for f in fields(cls)})
