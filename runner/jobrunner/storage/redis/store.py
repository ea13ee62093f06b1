"""The shared storage: one Redis, for several daemons on several hosts.

Key layout (every key of queue Q shares the hash tag `{Q}`, so each Lua
script touches one cluster slot; see scripts.py and lua/ for the scripts):

    jr:{Q}:ready, :scheduled, :leased, :seq, :dead, :dead-until   per queue
    jr:{Q}:job:ID       hash: message, delivery number, owner, record fields, and
                        `cancel` while a cancel of the running job is requested
    jr:{Q}:owner:NAME   set of the job ids daemon NAME holds in Q
    jr:{Q}:dlv          hash: job id -> "N OWNER", the delivery each leased job is on (also
                        in its hash), so an ack of a batch reads one key, not a hash a job
    jr:{Q}:idem:KEY     idempotency key -> job id, with a TTL (SET NX PX)
    jr:{Q}:jobs         zset: the job listing, job id -> creation time (epoch seconds)
    jr:{Q}:kept         zset: acknowledged records -> when `expire` may forget them
    jr:{Q}:rate         zset: sliding-window log of starts
    jr:{Q}:history      hash: MINUTE:OUTCOME -> attempts settled that minute (the charts),
                        counted by the settling scripts, trimmed to HISTORY_KEEP by expire
    jr:{Q}:wake         pub/sub channel: something became due in Q (or Q was resumed)
    jr:{Q}:paused       Q is paused while this key exists: the lease script checks it
                        (JSON: since, by, reason; whatever else is there still pauses Q)
    jr:queues           set of every queue name seen (for reclaim, stats, lookups)
    jr:config           the published configuration (JSON)
    jr:daemons          set of daemon names; jr:daemon:NAME their info (JSON, with a TTL)
    jr:{Q}:corrupt:NAME, jr:corrupt:{KEY}   stray keys set aside (below)

The class is built in layers: contain.py runs scripts and contains stray keys,
registry.py knows the queues and guards every call, inspection.py reads records,
dead jobs, listings, counts and tallies back, shared.py keeps what the daemons share
(the published configuration, values, claims, heartbeats), upkeep.py reclaims
expired leases and forgets what is past its retention, and this module has the rest.

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
`running`) and override the JSON. An acknowledged record is kept by its entry in
jr:{Q}:kept (the time it may go) until `expire()` forgets it, with its listing entry
(forget.lua), as SQLite forgets its records: one ZADD an ack call instead of a PEXPIRE
a job. Its hash notes its keep time too (`keep`), so when kept is lost (a stray
writer's key there, set aside) the sweep below gives each such record its entry back.
Dead and cancelled jobs and idempotency keys expire through key TTLs;
`expire()` counts the records it forgets and the dead jobs it drops from the
dead-letter index. Queue names stay in jr:queues.

The job listing (`jobs`) is written by the enqueue script, and read newest first a
page at a time: one pipelined ZREVRANGEBYSCORE on the listing of each queue searched,
then one pipelined call of the `jobs` script per queue for the hashes of the entries
examined (storage/search.py bounds how many). An entry whose job hash is gone (expired
by its TTL, purged) is dropped by that script when a listing meets it, by `purge`, and
by `expire`, which sweeps a batch of each listing a call, oldest first, going on where
its last call stopped. Since every job hash is listed, the enqueue script looks for an
earlier job of an id (a retried enqueue) only when the listing has the id: its ZADD NX is
that look. Jobs enqueued by a version before the listing existed are not listed.

Anyone who can write to the Redis may have put anything anywhere, so what
is read back is never trusted: a key of the wrong type (a list where a job
hash belongs, a string where a sorted set belongs) is found by the scripts
before they write, and contain.py sets it aside or marks only its queue
broken. Values (jr:config, jr:value:*) that do not read are ValueErrors,
which the records read as never written.

`woken` answers from the signals one thread per storage (wake.py) notes on the
pattern `jr:*:wake`, so no blocking call holds a pooled connection. A script
publishes only when a queue's ready set stops being empty or a new earliest
scheduled job appears: the daemon's listener takes its moment before it looks for
jobs and waits from that moment, so it misses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import redis
from redis.commands.core import Script

from jobrunner.job import (
    Job,
    Record,
    State,
    Unreadable,
)
from jobrunner.storage import redact
from jobrunner.storage.base import (
    Cancel,
    Done,
    Found,
    Lease,
    Pause,
    StorageError,
    cancelled,
    decode_pause,
)
from jobrunner.storage.redis.ahead import Ahead
from jobrunner.storage.redis.connect import (
    ASYNC,
    Client,
    Durability,
    connect,
)
from jobrunner.storage.redis.contain import Call
from jobrunner.storage.redis.enqueue import CHUNK, Chunk, rounds
from jobrunner.storage.redis.inspection import Inspection
from jobrunner.storage.redis.keys import (
    QueueBroken,
    bad_data,
    encoded,
    kind,
    listing_key,
    ms,
    paused_key,
    prefix,
    queue_args,
    queue_keys,
)
from jobrunner.storage.redis.looks import ExistsLooks
from jobrunner.storage.redis.packed import Packed
from jobrunner.storage.redis.replies import (
    as_count,
    fields_record,
    lease_reply,
    read_record,
    record_fields,
    text,
)
from jobrunner.storage.redis.scripts import Scripts
from jobrunner.storage.redis.upkeep import BATCH, Upkeep
from jobrunner.storage.redis.wake import WakeRelay
from jobrunner.storage.signing import (
    Keys,
    refused_message,
    seal,
    unseal,
)

CANCEL_TRIES = 5  # reads of a job that keeps moving on while `cancel` tries to catch it
PER_CALL = 1000  # jobs one lease or ack script call takes, well within Lua's unpack() limit
Arg = bytes | str | int | float  # what a script accepts as an argument


class RedisStorage(Inspection, Upkeep):
    def __init__(
        self,
        client: Client,
        url: str,
        keys: Keys | None = None,
        durability: Durability = ASYNC,
    ) -> None:
        self.url, self.keys = redact(url), keys
        self._raw_url = url
        self._client = client
        self._durability = durability
        self._lua = Scripts.register(client)
        self._relay = WakeRelay(client)
        self._ahead = Ahead()  # sends a large batch's rounds (enqueue_many)
        self._registered: dict[str, float] = {}  # queue -> when we last added it to jr:queues
        self._broken: dict[str, tuple[str, bytes | None, str]] = {}  # queue -> reason, key, want
        self._swept: dict[str, str] = {}  # queue -> the listing score `expire` swept up to
        self._spans_slots = True  # a command may name keys of several slots (no cluster)
        self._packed = Packed(client) if isinstance(client, redis.Redis) else None
        self._looks = ExistsLooks(self._packed) if self._packed is not None else None
        self._names: tuple[set[Any], list[str]] = (set(), [])  # _queues

    @classmethod
    def from_url(cls, url: str, keys: Keys | None = None) -> RedisStorage:
        client, durability = connect(url)
        return cls(client, url, keys, durability)

    # -- producers ---------------------------------------------------------

    def enqueue(
        self,
        job: Job,
        *,
        delay: float = 0.0,
        at: float | None = None,
        idempotency_ttl: float | None = None,
    ) -> str:
        [job_id] = self.enqueue_many([job], delay=delay, at=at, idempotency_ttl=idempotency_ttl)
        return job_id

    def enqueue_many(
        self,
        jobs: Sequence[Job],
        *,
        delay: float = 0.0,
        at: float | None = None,
        idempotency_ttl: float | None = None,
    ) -> list[str]:
        """One script call per queue per chunk (enqueue.py), each round pipelined; a batch of
        more than one round sends each while the next is made (ahead.py)."""
        ids = [""] * len(jobs)
        doing = f"enqueueing job {jobs[0].id}" if len(jobs) == 1 else f"enqueueing {len(jobs)} jobs"
        with self._guard(doing):
            plan = rounds(jobs, self.keys, delay=delay, at=at, idempotency_ttl=idempotency_ttl)
            if len(jobs) > CHUNK:
                sent = self._ahead.each(plan, self._store_round)
            else:  # one round: no hand-off to the sending thread
                sent = ((calls, self._store_round(calls)) for calls in plan)
            for calls, replies in sent:
                for queue, chunk in calls.items():
                    if isinstance(replies[queue], QueueBroken):
                        raise replies[queue]
                    for place, job_id in zip(chunk.places, replies[queue], strict=True):
                        ids[place] = text(job_id)
        return ids

    def _store_round(self, calls: Mapping[str, Chunk]) -> dict[str, Any]:
        """One round of `enqueue_many`: per queue its reply, or the `QueueBroken`."""
        for queue in calls:
            self._register(queue)
        return self._each(
            {q: (self._lua.enqueue, chunk.keys, chunk.args) for q, chunk in calls.items()}
        )

    # -- workers -----------------------------------------------------------

    def lease(self, queue: str, owner: str, *, count: int, lease_for: float) -> list[Lease]:
        return self.lease_many({queue: count}, owner, lease_for=lease_for)[queue].leases

    def lease_many(
        self, wants: Mapping[str, int], owner: str, *, lease_for: float
    ) -> dict[str, Found]:
        """One call of the lease script per queue, all pipelined; a broken queue (logged once)
        finds nothing and waits until its key is fixed."""
        who, wait = encoded(owner), repr(float(lease_for)).encode()
        calls: dict[str, Call] = {
            q: (
                self._lua.lease,
                [*keys, encoded(prefix(q) + "owner:" + owner), encoded(paused_key(q))],
                [p, who, b"%d" % min(count, PER_CALL), wait],
            )
            for q, count in wants.items()
            if count > 0
            for p, keys in [queue_args(q)]
        }
        found = {q: Found([], 0.0) for q in wants}  # asked for none: gave all it was asked
        if not calls:
            return found
        with self._guard(f"leasing from queue {', '.join(calls)}"):
            for queue in calls:
                self._register(queue)  # a stray writer's queue is reclaimed too
            replies = self._each(calls)
        for queue, reply in replies.items():
            broken = isinstance(reply, QueueBroken)
            found[queue] = Found([], None) if broken else self._found(queue, reply)
        return found

    def _found(self, queue: str, reply: list[Any]) -> Found:
        jobs, due_in = lease_reply(reply)
        leases = []
        for j in jobs:
            raw, refused = unseal(self.keys, bytes(j.raw))
            token, job_id = f"{text(j.job_id)}:{j.n}", text(j.job_id)
            deliveries, history = as_count(j.deliveries), bool(j.history)
            leases.append(Lease(token, job_id, queue, raw, deliveries, refused, history))
        return Found(leases, due_in)

    def wake(self) -> None:
        self._relay.wake()

    def moment(self) -> int:
        self._relay.subscribe(0.0)  # listening from now on (started once)
        return self._relay.moment()

    def woken(self, since: int, queues: Collection[str], timeout: float) -> tuple[int, set[str]]:
        return self._relay.woken(since, queues, timeout)

    def holding(self, queues: Collection[str]) -> set[str]:
        """One EXISTS when no queue has a ready or scheduled job (an idle daemon's look);
        else the first ready and first scheduled job of each, in one round trip."""
        names = list(queues)
        with self._guard("looking for jobs"):
            if self._none_exist(names, "ready", "scheduled"):
                return set()
            keys = [key for queue in names for key in queue_keys(queue)[:2]]
            now, firsts = self._timed(
                lambda pipe: [pipe.zrange(key, 0, 0, withscores=True) for key in keys]
            )
        found = set()
        for queue, ready, scheduled in zip(names, firsts[::2], firsts[1::2], strict=True):
            broken = isinstance(ready, Exception) or isinstance(scheduled, Exception)
            if broken or ready or (scheduled and scheduled[0][1] <= now):
                found.add(queue)
        return found

    def extend(self, owner: str, lease_for: float, held: Collection[Lease] | None = None) -> int:
        with self._guard(f"extending the leases of {owner}"):
            if held is None:
                return sum(self._per_owner(self._lua.extend, owner, lease_for))
            tokens: dict[str, list[str]] = {}
            for lease in held:  # the script renews these only: (id, n) a lease
                job_id, _, n = lease.token.rpartition(":")
                tokens.setdefault(lease.queue, []).extend((job_id, n))
            calls: dict[str, Call] = {
                q: (self._lua.extend, self._owner_keys(q, owner), [prefix(q), owner, lease_for, *t])
                for q, t in tokens.items()
            }
            replies = self._each(calls).values()
            return sum(as_count(n) for n in replies if not isinstance(n, QueueBroken))

    def _owner_keys(self, queue: str, owner: str) -> list[str]:
        return [*queue_keys(queue), prefix(queue) + "owner:" + owner]

    def _per_owner(self, script: Script, owner: str, *args: Any) -> list[int]:
        calls: dict[str, Call] = {
            q: (script, self._owner_keys(q, owner), [prefix(q), owner, *args])
            for q in self._queues()
        }
        return [as_count(n) for n in self._each(calls).values() if not isinstance(n, QueueBroken)]

    def _settle(self, queue: str, script: Script, args: list[Any]) -> bool:
        """Ack, retry or bury: False (logged once) when the queue is broken."""
        try:
            return bool(self._one(queue, script, queue_keys(queue), args))
        except QueueBroken:
            return False

    def ack(self, lease: Lease, record: Record, keep_for: float) -> bool:
        return self.ack_many([Done(lease, record, keep_for)])[0]

    def ack_many(self, done: Sequence[Done]) -> list[bool]:
        """One call of the ack script per queue (PER_CALL acks at most), all pipelined; the
        acks of a broken queue (logged once) answer False."""
        answers: list[bool] = []
        what = f"job {done[0].lease.job_id}" if len(done) == 1 else f"{len(done)} jobs"
        with self._guard(f"acknowledging {what}"):
            for start in range(0, len(done), PER_CALL):
                answers += self._acks(done[start : start + PER_CALL])
        return answers

    def _acks(self, done: Sequence[Done]) -> list[bool]:
        places: dict[str, list[int]] = {}  # queue -> the places of its acks in `done`
        for i, d in enumerate(done):
            places.setdefault(d.lease.queue, []).append(i)
        calls: dict[str, Call] = {}
        for queue, mine in places.items():
            args: list[Arg] = [queue_args(queue)[0]]
            for d in (done[i] for i in mine):
                args += [encoded(d.lease.job_id), encoded(d.lease.token.rpartition(":")[2])]
                args += [*record_fields(d.record), b"%d" % ms(d.keep_for)]
            calls[queue] = (self._lua.ack_many, queue_keys(queue), args)
        answers = [False] * len(done)
        for queue, reply in self._each(calls).items():
            if not isinstance(reply, QueueBroken):
                for i, answer in zip(places[queue], reply, strict=True):
                    answers[i] = bool(answer)
        return answers

    def _delivery(self, lease: Lease) -> list[str]:
        return [prefix(lease.queue), lease.job_id, lease.token.rpartition(":")[2]]

    def retry(self, lease: Lease, job: Job, delay: float, record: Record) -> bool:
        rec, state, updated, _ = record_fields(record)
        message = seal(self.keys, job.encode())
        args: list[Arg] = [*self._delivery(lease), message, job.priority, delay, rec]
        args += [state, updated]
        with self._guard(f"retrying job {lease.job_id}"):
            return self._settle(lease.queue, self._lua.retry, args)

    def bury(self, lease: Lease | None, record: Record, keep_for: float) -> bool:
        rec, _, updated, run_at = record_fields(replace(record, state=State.DEAD))
        if lease is None:
            head = [prefix(record.job.queue), record.job.id, ""]
        else:
            head = self._delivery(lease)
        queue = lease.queue if lease else record.job.queue
        with self._guard(f"burying job {record.job.id}"):
            return self._settle(queue, self._lua.bury, [*head, rec, updated, run_at, ms(keep_for)])

    def release(self, owner: str) -> int:
        with self._guard(f"releasing the leases of {owner}"):
            return sum(self._per_owner(self._lua.release, owner))

    def queue_names(self) -> list[str]:
        with self._guard("listing the queues"):
            return self._queues()

    # -- pausing -------------------------------------------------------------

    def pause(self, pause: Pause) -> None:
        with self._guard(f"pausing queue {pause.queue}"):
            self._register(pause.queue)  # so that `paused` finds it
            self._write(lambda pipe: pipe.set(paused_key(pause.queue), pause.encode()))

    def resume(self, queue: str) -> bool:
        with self._guard(f"resuming queue {queue}"):
            [deleted] = self._write(lambda pipe: pipe.delete(paused_key(queue)))
            self._client.publish(prefix(queue) + "wake", "1")  # waiters slept through due jobs
        return bool(deleted)

    def paused(self) -> dict[str, Pause]:
        with self._guard("reading the paused queues"):
            queues = self._queues()
            if self._none_exist(queues, "paused"):
                return {}
            pipe = self._client.pipeline(transaction=False)
            for queue in queues:
                pipe.get(paused_key(queue))
            found = {}
            for queue, raw in zip(queues, pipe.execute(raise_on_error=False), strict=True):
                if isinstance(raw, redis.ResponseError):
                    if not bad_data(raw):
                        raise raw
                    got = kind(text(self._client.type(paused_key(queue))))
                    found[queue] = Pause(queue, unreadable=f"the key holds {got}, not JSON text")
                elif raw is not None:
                    found[queue] = decode_pause(queue, raw)
        return found

    # -- cancelling ----------------------------------------------------------

    def cancel(self, job_id: str, keep_for: float) -> Cancel:
        with self._guard(f"cancelling job {job_id}"):
            for _ in range(CANCEL_TRIES):
                found = self._find(job_id)
                if found is None:
                    return Cancel.UNKNOWN
                queue, values = found
                if isinstance(values, str):
                    return Cancel.FINISHED  # not a job hash: nothing waits there to cancel
                record = read_record(values, job_id, queue)
                if record is None:  # a stray writer's: nothing to keep but its state
                    record = Record(Job(job_id, queue, None), State.QUEUED)
                gone = cancelled(record, time.time())
                args: list[Arg] = [prefix(queue), job_id, values.rec or b"", gone.encode()]
                args += [repr(gone.updated), ms(keep_for)]
                try:
                    reply = text(self._one(queue, self._lua.cancel, queue_keys(queue), args))
                except QueueBroken:
                    return Cancel.FINISHED  # logged once; `stats` says why
                if reply != "changed":
                    return Cancel(reply)
        raise StorageError(f"job {job_id} changed {CANCEL_TRIES} times while being cancelled")

    def cancel_requested(self, leases: Sequence[Lease]) -> set[str]:
        if not leases:
            return set()
        with self._guard("reading cancel requests"):
            pipe = self._client.pipeline(transaction=False)
            for lease in leases:
                pipe.hget(prefix(lease.queue) + "job:" + lease.job_id, "cancel")
            replies = pipe.execute(raise_on_error=False)
        return {
            lease.job_id
            for lease, reply in zip(leases, replies, strict=True)
            if isinstance(reply, bytes) and reply
        }

    # -- rate limits -------------------------------------------------------

    def take(self, queue: str, count: int, period: float) -> float:
        keys = [*queue_keys(queue), prefix(queue) + "rate"]
        with self._guard(f"taking a start from the rate limit of {queue}"):
            try:
                return float(self._one(queue, self._lua.take, keys, [prefix(queue), count, period]))
            except QueueBroken:
                return min(period, 5.0)  # logged once: ask again later

    # -- inspection (the reads are in inspection.py) -----------------------

    def replay(self, job_id: str) -> bool:
        with self._guard(f"replaying job {job_id}"):
            found = self._find(job_id)
            if found is None:
                return False
            queue, values = found
            if isinstance(values, str) or values.state not in (b"dead", b"cancelled"):
                return False
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
            return self._settle(queue, self._lua.replay, args)

    def purge(self, queue: str | None = None, job_id: str | None = None) -> int:
        deleted = 0
        with self._guard("purging dead jobs"):
            for q in [queue] if queue else self._queues():
                while True:
                    try:
                        keys = [*queue_keys(q), listing_key(q)]
                        n, examined = self._one(
                            q, self._lua.purge, keys, [prefix(q), job_id or "", BATCH]
                        )
                    except QueueBroken:
                        break  # logged once; `stats` says why
                    deleted += int(n)
                    if job_id or int(examined) < BATCH:
                        break
        return deleted

    def close(self) -> None:
        self._relay.close()
        self._ahead.close()
        self._client.close()
