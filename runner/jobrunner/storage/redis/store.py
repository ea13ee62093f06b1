"""The shared storage: one Redis, for several daemons on several hosts.

Key layout (every key of queue Q shares the hash tag `{Q}`, so each Lua
script touches one cluster slot; see scripts.py and lua/ for the scripts):

    jr:{Q}:ready, :scheduled, :leased, :seq, :dead, :dead-until   per queue
    jr:{Q}:job:ID       hash: message, delivery number, owner, record fields
    jr:{Q}:owner:NAME   set of the job ids daemon NAME holds in Q
    jr:{Q}:idem:KEY     idempotency key -> job id, with a TTL (SET NX PX)
    jr:{Q}:rate         zset: sliding-window log of starts
    jr:{Q}:wake         pub/sub channel: something became due in Q
    jr:queues           set of every queue name seen (for reclaim, stats, lookups)
    jr:config           the published configuration (JSON)
    jr:daemons          set of daemon names; jr:daemon:NAME their info (JSON, with a TTL)

A job id alone (`record`, `replay`, `purge(job_id=…)`) is looked up in every
known queue with one pipelined round trip: ids are chosen by producers, so they
cannot name their queue, and a global id -> queue index would cost a write
outside the queue's slot on every enqueue and would need expiring of its own.

A lease token is `ID:N`, N a number the queue's counter gives each delivery:
only the delivery holding the current N can ack, retry or bury the job. A
stale token changes nothing at all (not even the record) and returns False;
the same call made twice with one token (a retry after a lost reply) returns
True both times and acts once.

Records: `rec` holds the Record as JSON written by Python once an attempt
ends (before that, the record is read from the message); `state`, `updated`
and `run_at` are kept beside it because the scripts change them (a lease sets
`running`) and override the JSON. Finished records, dead jobs and
idempotency keys expire through key TTLs, so `expire()` counts only the dead
jobs it drops from the dead-letter index. Queue names stay in jr:queues.

`wait` sleeps on a condition; one thread per storage (wake.py) listens on
the pattern `jr:*:wake` and wakes the waiters of that queue, so no blocking call holds a
pooled connection. A script publishes only when a queue's ready set stops
being empty or a new earliest scheduled job appears: a waiter sleeps only
after it saw nothing ready (having subscribed first), so it misses nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import Script
from redis.retry import Retry

from jobrunner.job import (
    Job,
    Record,
    State,
    Unreadable,
)
from jobrunner.storage import redact
from jobrunner.storage.base import (
    Lease,
    QueueStats,
    Redelivery,
    StorageError,
    buried_lost,
    lost,
)
from jobrunner.storage.redis.replies import (
    RECORD_FIELDS,
    Expired,
    Leased,
    Stored,
    as_count,
    fields_record,
    groups,
    read_record,
    record_fields,
    text,
)
from jobrunner.storage.redis.scripts import Scripts
from jobrunner.storage.redis.wake import WakeRelay
from jobrunner.storage.signing import (
    Keys,
    dump_value,
    load_value,
    refused_message,
    seal,
    unseal,
)

QUEUES, CONFIG, DAEMONS = "jr:queues", "jr:config", "jr:daemons"
SOCKET_TIMEOUT, CONNECT_TIMEOUT = 4.0, 3.0  # seconds without an answer, to connect
BATCH = 500  # leases reclaimed, dead jobs purged or expired per script call
REGISTER_EVERY = 60.0  # seconds between re-adding a queue this process uses to jr:queues
Arg = bytes | str | int | float  # what a script accepts as an argument


def prefix(queue: str) -> str:
    return f"jr:{{{queue}}}:"


def queue_keys(queue: str) -> list[str]:
    p = prefix(queue)
    return [p + name for name in ("ready", "scheduled", "leased", "seq", "dead", "dead-until")]


def ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def connect(url: str) -> redis.Redis:
    """A thread-safe pooled client; connection problems surface fast, as StorageError.

    A command that gets no answer fails after SOCKET_TIMEOUT (a frozen or partitioned
    server), retried once: a producer hears of it within seconds, never hangs. The URL's
    own `?socket_timeout=…&socket_connect_timeout=…` (seconds) win over these.
    """
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            health_check_interval=30,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1),
            encoding_errors="surrogateescape",
            client_name="jobrunner",
        )
    except ValueError as exc:
        raise StorageError(
            f"bad storage URL '{redact(url)}': {scrub(str(exc), url)}; "
            "expected redis://[:password@]host:port/db or rediss://… for TLS"
        ) from None


def scrub(message: str, url: str) -> str:
    """`message` without the URL's password, whatever a library put in it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return message
    return message.replace(unquote(password), "***") if password else message


class RedisStorage:
    def __init__(self, client: redis.Redis, url: str, keys: Keys | None = None) -> None:
        self.url, self.keys = redact(url), keys
        self._raw_url = url
        self._client = client
        self._lua = Scripts.register(client)
        self._relay = WakeRelay(client)
        self._registered: dict[str, float] = {}  # queue -> when we last added it to jr:queues

    @classmethod
    def from_url(cls, url: str, keys: Keys | None = None) -> RedisStorage:
        return cls(connect(url), url, keys)

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
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StorageError(
                f"cannot reach {self.url} while {doing}: {scrub(str(exc), self._raw_url)}"
            ) from None
        except redis.RedisError as exc:
            raise StorageError(
                f"{self.url} failed while {doing}: {scrub(str(exc), self._raw_url)}"
            ) from None

    def _queues(self) -> list[str]:
        return sorted(text(q) for q in self._client.smembers(QUEUES))

    def _register(self, queue: str) -> None:
        """Add `queue` to jr:queues, once a minute at most (it survives a FLUSHALL)."""
        now = time.monotonic()
        if self._registered.get(queue, -REGISTER_EVERY) + REGISTER_EVERY <= now:
            self._client.sadd(QUEUES, queue)
            self._registered[queue] = now

    def _batch(self, calls: Sequence[tuple[Script, list[str], list[Any]]]) -> list[Any]:
        """Run scripts in one pipelined round trip, replies in order.

        Raw EVALSHA: redis-py's pipelined scripts ask SCRIPT EXISTS first, every time.
        """
        for loaded in (False, True):
            pipe = self._client.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if loaded:
                    raise
                for script, _, _ in calls:  # a restarted server or SCRIPT FLUSH
                    self._client.script_load(script.script)
        raise AssertionError("unreachable")

    def _per_queue(self, script: Script, queues: Sequence[str], *args: Any) -> list[Any]:
        """Run `script` on each queue in one pipelined round trip; the replies in order."""
        return self._batch([(script, queue_keys(q), [prefix(q), *args]) for q in queues])

    # -- producers ---------------------------------------------------------

    def enqueue(
        self,
        job: Job,
        *,
        delay: float = 0.0,
        at: float | None = None,
        idempotency_ttl: float | None = None,
    ) -> str:
        keys = queue_keys(job.queue)
        if job.idempotency_key is not None and idempotency_ttl:
            keys.append(prefix(job.queue) + "idem:" + job.idempotency_key)
        ttl = ms(idempotency_ttl) if idempotency_ttl else 0
        when = "" if at is None else at
        message = seal(self.keys, job.encode())
        args: list[Arg] = [prefix(job.queue), job.id, message, job.priority, delay, when, ttl]
        with self._guard(f"enqueueing job {job.id}"):
            self._register(job.queue)
            return text(self._lua.enqueue(keys=keys, args=args))

    # -- workers -----------------------------------------------------------

    def lease(self, queue: str, owner: str, *, count: int, lease_for: float) -> list[Lease]:
        keys = [*queue_keys(queue), prefix(queue) + "owner:" + owner]
        with self._guard(f"leasing from queue {queue}"):
            self._register(queue)  # a stray writer's queue is reclaimed too
            flat = self._lua.lease(keys=keys, args=[prefix(queue), owner, count, lease_for])
        leases = []
        for j in groups(flat, Leased, len(Leased._fields)):
            raw, refused = unseal(self.keys, bytes(j.raw))
            token, job_id = f"{text(j.job_id)}:{j.n}", text(j.job_id)
            deliveries, history = as_count(j.deliveries), bool(j.history)
            leases.append(Lease(token, job_id, queue, raw, deliveries, refused, history))
        return leases

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self._relay.subscribe(timeout):
            return  # woken, closing, or Redis unreachable for the whole timeout
        seen = self._relay.seen(queues)
        with self._guard("checking for due jobs"):
            due = self._due_in(queues)
        left = deadline - time.monotonic()
        self._relay.wait(queues, seen, left if due is None else min(left, due))

    def _due_in(self, queues: Sequence[str]) -> float | None:
        """0 when a job of `queues` is ready; else seconds until the first scheduled one."""
        pipe = self._client.pipeline(transaction=False)
        pipe.time()
        for queue in queues:
            pipe.zcard(prefix(queue) + "ready")
            pipe.zrange(prefix(queue) + "scheduled", 0, 0, withscores=True)
        (seconds, micros), *replies = pipe.execute()
        if any(replies[0::2]):
            return 0.0
        firsts = [first[0][1] for first in replies[1::2] if first]
        return max(0.0, min(firsts) - seconds - micros / 1e6) if firsts else None

    def wake(self) -> None:
        self._relay.wake()

    def extend(self, owner: str, lease_for: float) -> int:
        with self._guard(f"extending the leases of {owner}"):
            return sum(self._per_owner(self._lua.extend, owner, lease_for))

    def _per_owner(self, script: Script, owner: str, *args: Any) -> list[int]:
        calls = [
            (script, [*queue_keys(q), prefix(q) + "owner:" + owner], [prefix(q), owner, *args])
            for q in self._queues()
        ]
        return [int(n) for n in self._batch(calls)]

    def ack(self, lease: Lease, record: Record, keep_for: float) -> bool:
        args: list[Arg] = [*self._delivery(lease), *record_fields(record), ms(keep_for)]
        with self._guard(f"acknowledging job {lease.job_id}"):
            return bool(self._lua.ack(keys=queue_keys(lease.queue), args=args))

    def _delivery(self, lease: Lease) -> list[str]:
        return [prefix(lease.queue), lease.job_id, lease.token.rpartition(":")[2]]

    def retry(self, lease: Lease, job: Job, delay: float, record: Record) -> bool:
        rec, state, updated, _ = record_fields(record)
        message = seal(self.keys, job.encode())
        args: list[Arg] = [*self._delivery(lease), message, job.priority, delay, rec]
        args += [state, updated]
        with self._guard(f"retrying job {lease.job_id}"):
            return bool(self._lua.retry(keys=queue_keys(lease.queue), args=args))

    def bury(self, lease: Lease | None, record: Record, keep_for: float) -> bool:
        rec, _, updated, run_at = record_fields(replace(record, state=State.DEAD))
        if lease is None:
            head = [prefix(record.job.queue), record.job.id, ""]
        else:
            head = self._delivery(lease)
        queue = lease.queue if lease else record.job.queue
        with self._guard(f"burying job {record.job.id}"):
            return bool(
                self._lua.bury(
                    keys=queue_keys(queue), args=[*head, rec, updated, run_at, ms(keep_for)]
                )
            )

    def release(self, owner: str) -> int:
        with self._guard(f"releasing the leases of {owner}"):
            return sum(self._per_owner(self._lua.release, owner))

    def reclaim(self, policies: Mapping[str, Redelivery], default: Redelivery) -> list[str]:
        moved: list[str] = []
        with self._guard("reclaiming expired leases"):
            queues = self._queues()
            while queues:
                replies = self._per_queue(self._lua.expired, queues, BATCH)
                plans = {
                    queue: self._plan_lost(queue, reply, policies.get(queue, default))
                    for queue, reply in zip(queues, replies, strict=True)
                    if len(reply) > 1
                }
                done = self._requeue_lost(plans)
                moved += [job_id for ids in done.values() for job_id in ids]
                # A full batch that moved something: there may be more.
                queues = [q for q in plans if len(plans[q]) == 8 * BATCH and done[q]]
        return moved

    def _plan_lost(self, queue: str, reply: list[Any], policy: Redelivery) -> list[Any]:
        """REQUEUE_LOST's arguments for the expired leases of one EXPIRED reply."""
        now, args = float(reply[0]), list[Any]()
        for lease in groups(reply[1:], Expired, len(Expired._fields)):
            who, deliveries = text(lease.owner), as_count(lease.dlv) + 1
            record = read_record(lease.stored(), text(lease.job_id), queue)
            if deliveries < policy.max_deliveries:
                back = ["", State.QUEUED.value, "", ""]  # a stray message keeps no record
                if record is not None:
                    back = record_fields(replace(lost(record, who, now), state=State.QUEUED))
                args += [lease.job_id, lease.n, "queue", *back, 0]
                continue
            if record is None:  # a stray message: keep what it was, never drop it silently
                stray = Job(id=text(lease.job_id), queue=queue, payload=text(lease.msg))
                record = Record(stray, State.RUNNING, updated=now)
            dead = buried_lost(lost(record, who, now), deliveries, who)
            args += [lease.job_id, lease.n, "dead", *record_fields(dead), ms(policy.dead_retain)]
        return args

    def _requeue_lost(self, plans: Mapping[str, list[Any]]) -> dict[str, list[str]]:
        script = self._lua.requeue_lost
        replies = self._batch([(script, queue_keys(q), [prefix(q), *p]) for q, p in plans.items()])
        return {
            queue: [text(job_id) for job_id in ids]
            for queue, ids in zip(plans, replies, strict=True)
        }

    # -- rate limits -------------------------------------------------------

    def take(self, queue: str, count: int, period: float) -> float:
        keys = [prefix(queue) + "rate", prefix(queue) + "seq"]
        with self._guard(f"taking a start from the rate limit of {queue}"):
            return float(self._lua.take(keys=keys, args=[prefix(queue), count, period]))

    # -- inspection ----------------------------------------------------------

    def _find(self, job_id: str) -> tuple[str, Stored] | None:
        """The queue holding job `job_id` and its record fields."""
        queues = self._queues()
        pipe = self._client.pipeline(transaction=False)
        for queue in queues:
            pipe.hmget(prefix(queue) + "job:" + job_id, RECORD_FIELDS)
        for queue, values in zip(queues, pipe.execute(), strict=True):
            stored = Stored(*values)
            if stored.rec or stored.msg:
                return queue, stored
        return None

    def record(self, job_id: str) -> Record | None:
        with self._guard(f"reading job {job_id}"):
            found = self._find(job_id)
        return read_record(found[1], job_id, found[0]) if found else None

    def dead(self, queue: str | None = None, limit: int = 100) -> list[Record]:
        with self._guard("listing dead jobs"):
            queues = [queue] if queue else self._queues()
            pipe = self._client.pipeline(transaction=False)
            for q in queues:
                pipe.zrange(prefix(q) + "dead", 0, limit - 1, withscores=True)
            entries = sorted(
                (score, q, text(job_id))
                for q, members in zip(queues, pipe.execute(), strict=True)
                for job_id, score in members
            )[:limit]
            for _, q, job_id in entries:
                pipe.hmget(prefix(q) + "job:" + job_id, RECORD_FIELDS)
            records = [
                read_record(Stored(*values), job_id, q)
                for (_, q, job_id), values in zip(entries, pipe.execute(), strict=True)
            ]
        return [r for r in records if r is not None and r.state is State.DEAD]

    def replay(self, job_id: str) -> bool:
        with self._guard(f"replaying job {job_id}"):
            found = self._find(job_id)
            if found is None or found[1].state != b"dead":
                return False
            queue, values = found
            try:
                record = fields_record(values)
            except (Unreadable, ValueError):
                return False  # nothing to run: it stays dead, its bytes and reason in view
            if record is None or refused_message(record):
                return False
            job = replace(record.job, attempt=1)
            fresh = replace(record, job=job, state=State.QUEUED, reason="", deliveries=0)
            args: list[Arg] = [prefix(queue), job_id, values.rec or b"", fresh.encode()]
            args += [seal(self.keys, job.encode()), job.priority]
            return bool(self._lua.replay(keys=queue_keys(queue), args=args))

    def purge(self, queue: str | None = None, job_id: str | None = None) -> int:
        deleted = 0
        with self._guard("purging dead jobs"):
            for q in [queue] if queue else self._queues():
                while True:
                    n, examined = self._lua.purge(
                        keys=queue_keys(q), args=[prefix(q), job_id or "", BATCH]
                    )
                    deleted += int(n)
                    if job_id or int(examined) < BATCH:
                        break
        return deleted

    def stats(self) -> dict[str, QueueStats]:
        with self._guard("reading queue statistics"):
            queues = self._queues()
            replies = self._per_queue(self._lua.stats, queues)
        return {
            queue: QueueStats(*map(int, counts))
            for queue, counts in zip(queues, replies, strict=True)
            if any(counts)
        }

    # -- configuration and daemons -------------------------------------------

    def publish(self, document: Mapping[str, Any]) -> None:
        with self._guard("publishing the configuration"):
            self._client.set(CONFIG, dump_value(self.keys, document))

    def published(self) -> dict[str, Any] | None:
        with self._guard("reading the published configuration"):
            raw = self._client.get(CONFIG)
        return None if raw is None else load_value(self.keys, raw, "published configuration")

    def claim(self, key: str, ttl: float) -> bool:
        with self._guard(f"claiming {key}"):
            return bool(self._client.set(f"jr:claim:{key}", 1, nx=True, px=ms(ttl)))

    def get_value(self, key: str) -> Any:
        with self._guard(f"reading {key}"):
            raw = self._client.get(f"jr:value:{key}")
        return None if raw is None else load_value(self.keys, raw, f"value {key}")

    def set_value(self, key: str, value: Any) -> None:
        with self._guard(f"writing {key}"):
            self._client.set(f"jr:value:{key}", dump_value(self.keys, value))

    def beat(self, daemon: str, info: Mapping[str, Any], ttl: float) -> None:
        with self._guard(f"recording the heartbeat of {daemon}"):
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(DAEMONS, daemon)
            pipe.set(f"jr:daemon:{daemon}", json.dumps(info), px=ms(ttl))
            pipe.execute()

    def leave(self, daemon: str) -> None:
        with self._guard(f"removing daemon {daemon}"):
            pipe = self._client.pipeline(transaction=False)
            pipe.srem(DAEMONS, daemon)
            pipe.delete(f"jr:daemon:{daemon}")
            pipe.execute()

    def daemons(self) -> list[dict[str, Any]]:
        with self._guard("listing daemons"):
            names = sorted(text(d) for d in self._client.smembers(DAEMONS))
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.get(f"jr:daemon:{name}")
            infos = pipe.execute()
            gone = [name for name, info in zip(names, infos, strict=True) if info is None]
            if gone:  # their key expired: the daemon stopped beating
                self._client.srem(DAEMONS, *gone)
        return [
            {**json.loads(info), "id": name}
            for name, info in zip(names, infos, strict=True)
            if info is not None
        ]

    def expire(self) -> int:
        """Records and idempotency keys expire by their TTL; this forgets dead jobs past retain."""
        forgotten = 0
        with self._guard("expiring old records"):
            queues = self._queues()
            while queues:
                counts = self._per_queue(self._lua.expire_dead, queues, BATCH)
                forgotten += sum(int(n) for n in counts)
                queues = [q for q, n in zip(queues, counts, strict=True) if int(n) >= BATCH]
        self.daemons()
        return forgotten

    def close(self) -> None:
        self._relay.close()
        self._client.close()
