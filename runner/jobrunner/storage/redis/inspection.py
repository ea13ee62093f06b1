"""What the storage reads back for people: a job's record, the dead jobs, the job
listings searched a page at a time, each queue's counts and its outcomes a minute.

Every read tolerates what a stray writer left: a job key that is no hash reads as an
unreadable record saying so, a listing that is no sorted set is set aside (the next
enqueue starts it anew), a queue whose keys do not read has `broken` in its counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import redis

from jobrunner.job import Record, State, unreadable_record
from jobrunner.storage.base import OUTCOMES, QueueStats, Tally
from jobrunner.storage.redis.contain import Call
from jobrunner.storage.redis.keys import (
    QueueBroken,
    bad_data,
    kind,
    listing_key,
    prefix,
    queue_keys,
)
from jobrunner.storage.redis.registry import Registry
from jobrunner.storage.redis.replies import (
    RECORD_FIELDS,
    Listed,
    Stored,
    as_count,
    groups,
    read_record,
    text,
)
from jobrunner.storage.search import Candidate, Page, Position, Query, collect, passes
from jobrunner.storage.signing import peek


class Inspection(Registry):
    """The reads of records, dead jobs, listings, counts and tallies (RedisStorage's base)."""

    def _find(self, job_id: str) -> tuple[str, Stored | str] | None:
        """The queue holding job `job_id` and its record fields (or why they do not read)."""
        queues = self._queues()
        pipe = self._client.pipeline(transaction=False)
        for queue in queues:
            pipe.hmget(prefix(queue) + "job:" + job_id, RECORD_FIELDS)
        for queue, values in zip(queues, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(values, redis.ResponseError):
                if not bad_data(values):
                    raise values
                return queue, f"{prefix(queue)}job:{job_id} is not a job hash: {values}"
            stored = Stored(*values)
            if stored.rec or stored.msg:
                return queue, stored
        return None

    def record(self, job_id: str) -> Record | None:
        with self._guard(f"reading job {job_id}"):
            found = self._find(job_id)
        if found is None:
            return None
        queue, stored = found
        if isinstance(stored, str):
            return unreadable_record(job_id, queue, None, stored)
        return read_record(stored, job_id, queue)

    def dead(self, queue: str | None = None, limit: int = 100) -> list[Record]:
        """The oldest dead jobs; a queue whose dead-letter index does not read is left out
        (`stats` says why)."""
        with self._guard("listing dead jobs"):
            queues = [queue] if queue else self._queues()
            pipe = self._client.pipeline(transaction=False)
            for q in queues:
                pipe.zrange(prefix(q) + "dead", 0, limit - 1, withscores=True)
            entries = sorted(
                (score, q, text(job_id))
                for q, members in zip(queues, pipe.execute(raise_on_error=False), strict=True)
                if not isinstance(members, redis.ResponseError)
                for job_id, score in members
            )[:limit]
            for _, q, job_id in entries:
                pipe.hmget(prefix(q) + "job:" + job_id, RECORD_FIELDS)
            records = [
                unreadable_record(job_id, q, None, f"{prefix(q)}job:{job_id}: {values}")
                if isinstance(values, redis.ResponseError)
                else read_record(Stored(*values), job_id, q)
                for (_, q, job_id), values in zip(
                    entries, pipe.execute(raise_on_error=False), strict=True
                )
            ]
        return [r for r in records if r is not None and r.state is State.DEAD]

    def jobs(self, query: Query) -> Page:
        """Read from the job listings, a queue's or every queue's, merged newest first."""
        with self._guard("listing jobs"):
            queues = [query.queue] if query.queue else self._queues()
            return collect(query, lambda after, n: self._listed(queues, query, after, n))

    def _listed(
        self, queues: Sequence[str], query: Query, after: Position | None, n: int
    ) -> list[Candidate]:
        """The next `n` entries of the listings after `after`, with the records they name."""
        entries = sorted(self._entries(queues, query, after, n), reverse=True)[:n]
        ids: dict[str, list[str]] = {}
        for position, queue in entries:
            ids.setdefault(queue, []).append(position.job_id)
        calls: dict[str, Call] = {
            q: (self._lua.jobs, [*queue_keys(q), listing_key(q)], [prefix(q), *found])
            for q, found in ids.items()
        }
        records: dict[tuple[str, str], Record | None] = {}
        for queue, reply in self._each(calls).items():
            if isinstance(reply, QueueBroken):
                continue  # logged once; its entries read as gone
            found = groups(reply, Listed, len(Listed._fields))
            for job_id, listed in zip(ids[queue], found, strict=True):
                if listed.how == b"ok" and not passes(query, listed.state, _raw(listed)):
                    continue  # refused by its state or payload: its record is not built
                records[queue, job_id] = listed_record(queue, job_id, listed)
        return [(position, records.get((q, position.job_id))) for position, q in entries]

    def _entries(
        self, queues: Sequence[str], query: Query, after: Position | None, n: int
    ) -> list[tuple[Position, str]]:
        """Up to `n` entries of each queue's listing after `after`, in the time range.

        The score range includes `after`'s own time, so that jobs created in the same
        instant are not lost; those of them not after `after` are skipped, and a listing
        whose whole read was skipped is read again, further (rarely: times are to the µs).
        """
        top = "+inf" if query.until is None else f"({query.until!r}"
        if after is not None:
            top = repr(after.created)
        bottom = "-inf" if query.since is None else repr(query.since)
        skip = dict.fromkeys(queues, 0)
        found: list[tuple[Position, str]] = []
        while skip:
            pipe = self._client.pipeline(transaction=False)
            for q, k in skip.items():
                pipe.zrevrangebyscore(listing_key(q), top, bottom, 0, n + k, withscores=True)
            again = {}
            for (q, k), reply in zip(skip.items(), pipe.execute(raise_on_error=False), strict=True):
                if isinstance(reply, redis.ResponseError):
                    self._listing_aside(q, reply)
                    continue
                listed = [(Position(score, text(m)), q) for m, score in reply]
                kept = [entry for entry in listed if after is None or entry[0] < after]
                if len(listed) - len(kept) > k and len(listed) == n + k:
                    again[q] = len(listed) - len(kept)
                else:
                    found.extend(kept[:n])
            skip = again
        return found

    def _listing_aside(self, queue: str, error: redis.ResponseError) -> None:
        """A listing that does not read as a zset is set aside; the next enqueue starts anew."""
        if not bad_data(error):
            raise error
        key = listing_key(queue)
        got = text(self._client.type(key))
        if got not in ("zset", "none"):
            self._set_aside(queue, key.encode(), b"jobs", "zset", got)

    def stats(self) -> dict[str, QueueStats]:
        """Counts by queue; a queue whose keys do not read has `broken` saying why."""
        with self._guard("reading queue statistics"):
            replies = self._per_queue(self._lua.stats, self._queues())
        found = {}
        for queue, counts in replies.items():
            if isinstance(counts, QueueBroken):
                found[queue] = QueueStats(broken=counts.reason)
            elif any(counts[:5]):
                ready, scheduled, running, dead, aside = map(int, counts[:5])
                since = float(counts[5]) if counts[5] else None
                found[queue] = QueueStats(
                    ready, scheduled, running, dead, set_aside=aside, oldest_ready=since
                )
        return found

    def history(self, queue: str | None, since: float) -> list[Tally]:
        first, last = int(since // 60), int(time.time() // 60) + 1  # a minute of clock skew
        with self._guard("reading the history of outcomes"):
            queues = [queue] if queue else self._queues()
            replies = self._per_queue(self._lua.history, queues, first, last, *OUTCOMES)
        found = []
        for q, counted in replies.items():
            if isinstance(counted, QueueBroken):
                continue
            for name, count in json.loads(counted).items():
                minute, _, outcome = name.partition(":")
                n = as_count(count)
                if n > 0 and minute.isdigit():
                    found.append(Tally(q, int(minute) * 60, outcome, n))
        return found


def _raw(listed: Listed) -> bytes | None:
    """The JSON holding a listed job's payload: its record, else its (unsealed) message."""
    return listed.rec or (peek(listed.msg) if listed.msg else None)


def listed_record(queue: str, job_id: str, listed: Listed) -> Record | None:
    """A record as the `jobs` script read it: None when gone (or a stray message)."""
    if listed.how == b"bad":
        why = f"{prefix(queue)}job:{job_id} holds {kind(text(listed.rec or b''))}, not a hash"
        return unreadable_record(job_id, queue, None, why)
    return read_record(listed.stored(), job_id, queue) if listed.how == b"ok" else None
