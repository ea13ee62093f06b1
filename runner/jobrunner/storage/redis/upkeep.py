"""What a daemon's upkeep asks of the storage: reclaim the leases that expired (their
jobs handed back, or dead-lettered past max_deliveries) and forget what is past its
retention (acknowledged records, dead jobs, listing entries, minute tallies).

Each is a script per queue, pipelined, a batch a call, again on the queues that
filled a batch; a queue with none of the keys a step reads costs nothing after one
EXISTS for all (`_none_exist`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import redis
from redis.commands.core import Script

from jobrunner.job import Job, Record, State
from jobrunner.storage.base import HISTORY_KEEP, Reclaimed, Redelivery, buried_lost, lost
from jobrunner.storage.redis.contain import Call
from jobrunner.storage.redis.keys import QueueBroken, listing_key, ms, prefix, queue_keys
from jobrunner.storage.redis.replies import (
    Expired,
    as_count,
    groups,
    read_record,
    record_fields,
    text,
)
from jobrunner.storage.redis.shared import Shared

BATCH = 500  # leases reclaimed, dead jobs purged or expired per script call
EXPIRE_BUDGET = 2.0  # seconds a step of `expire` goes on for; the next call (a minute on) resumes


class Upkeep(Shared):
    """Reclaiming expired leases and forgetting old records, and the daemons that stopped
    beating (RedisStorage's base)."""

    _swept: dict[str, str]  # queue -> the listing score `expire` swept up to

    def reclaim(self, policies: Mapping[str, Redelivery], default: Redelivery) -> list[Reclaimed]:
        moved: list[Reclaimed] = []
        with self._guard("reclaiming expired leases"):
            queues = self._expiring(self._queues())
            while queues:
                replies = self._per_queue(self._lua.expired, queues, BATCH)
                plans = {
                    queue: self._plan_lost(queue, reply, policies.get(queue, default))
                    for queue, reply in replies.items()
                    if not isinstance(reply, QueueBroken) and len(reply) > 1
                }
                done = self._requeue_lost(plans)
                for queue, ids in done.items():
                    plan = plans[queue]  # 8 arguments per lease: id, n, 'queue' | 'dead', ...
                    buried = {
                        text(plan[i]) for i in range(0, len(plan), 8) if plan[i + 2] == "dead"
                    }
                    moved += [Reclaimed(job_id, queue, job_id in buried) for job_id in ids]
                # A full batch that moved something: there may be more.
                queues = [q for q in plans if len(plans[q]) == 8 * BATCH and done.get(q)]
        return moved

    def _expiring(self, queues: list[str]) -> list[str]:
        """The queues whose first lease expired (or whose lease index does not read: the
        script's containment deals with it): one ZRANGE each, not a script per queue, and
        none when no queue holds a lease at all."""
        if self._none_exist(queues, "leased"):
            return []
        now, firsts = self._timed(
            lambda pipe: [pipe.zrange(prefix(q) + "leased", 0, 0, withscores=True) for q in queues]
        )
        return [
            queue
            for queue, first in zip(queues, firsts, strict=True)
            if isinstance(first, redis.ResponseError) or (first and first[0][1] < now)
        ]

    def _plan_lost(self, queue: str, reply: list[Any], policy: Redelivery) -> list[Any]:
        """REQUEUE_LOST's arguments for the expired leases of one EXPIRED reply."""
        now, args = float(reply[0]), list[Any]()
        for lease in groups(reply[1:], Expired, len(Expired._fields)):
            who, deliveries = text(lease.owner), as_count(lease.dlv) + 1
            record = read_record(lease.stored(), text(lease.job_id), queue)
            if deliveries < policy.max_deliveries:
                back = [b"", b"queued", b"", b""]  # a stray message keeps no record
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
        replies = self._each(
            {q: (script, queue_keys(q), [prefix(q), *p]) for q, p in plans.items()}
        )
        return {
            queue: [text(job_id) for job_id in ids]
            for queue, ids in replies.items()
            if not isinstance(ids, QueueBroken)
        }

    def expire(self) -> int:
        """Forget acknowledged records and dead jobs past their retention; idempotency keys
        and the records of dead and cancelled jobs expire by their TTL.

        Each of its four steps (acknowledged records, dead jobs, listing entries, minute
        tallies) is a script per queue; a step whose keys exist in no queue is skipped after
        one EXISTS for them all (`_none_exist`), so a thousand queues that never ran a job
        cost four commands a minute, not four thousand script calls."""
        forgotten = 0
        with self._guard("expiring old records"):
            known = self._queues()
            forgotten += self._batches(self._lua.forget, known, "kept")
            forgotten += self._batches(self._lua.expire_dead, known, "dead", "dead-until")
            if not self._none_exist(known, "jobs"):
                self._sweep(known)
            if not self._none_exist(known, "history"):
                cutoff = int((time.time() - HISTORY_KEEP) // 60)
                self._per_queue(self._lua.trim, known, cutoff)
        self.daemons()
        return forgotten

    def _batches(self, script: Script, known: list[str], *names: str) -> int:
        """Call `script` (which forgets up to BATCH things a call) on every queue holding one
        of `names`, again on those that forgot a full batch, for EXPIRE_BUDGET at most (a
        backlog left by daemons stopped for days must not hold up the reclaim that follows
        in the same thread); how many it forgot in all."""
        forgotten = 0
        queues = [] if self._none_exist(known, *names) else known
        ends = time.monotonic() + EXPIRE_BUDGET
        while queues:
            calls: dict[str, Call] = {
                q: (script, [*queue_keys(q), listing_key(q)], [prefix(q), BATCH]) for q in queues
            }
            counts = self._each(calls)
            ok = {q: int(n) for q, n in counts.items() if not isinstance(n, QueueBroken)}
            forgotten += sum(ok.values())
            queues = [q for q, n in ok.items() if n >= BATCH and time.monotonic() < ends]
        return forgotten

    def _sweep(self, queues: list[str]) -> None:
        """Drop a batch of each queue's listing entries whose job is gone (oldest first, from
        where the last sweep stopped); not counted as forgotten: the records were, by TTL."""
        calls: dict[str, Call] = {
            q: (
                self._lua.sweep,
                [*queue_keys(q), listing_key(q)],
                [prefix(q), self._swept.get(q, "-inf"), BATCH],
            )
            for q in queues
        }
        for queue, reply in self._each(calls).items():
            if not isinstance(reply, QueueBroken):
                self._swept[queue] = text(reply[1]) or "-inf"
