"""`Client`: a producer's handle on one storage (the package's docstring says how to use it)."""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from jobrunner.client.admission import (
    MAX_SCHEMA_ERRORS,
    idempotency,
    payload_json,
    priority_rank,
    schema_path,
    when,
)
from jobrunner.client.errors import BatchRefused, EnqueueError, UnknownJob
from jobrunner.client.info import JobInfo, JobPage
from jobrunner.job import DEAD_LETTER_RETAIN, Job, new_id, new_trace_id
from jobrunner.storage import Cancel, Pause, Storage, open_storage, records, search
from jobrunner.storage.base import PAUSE_TEXT
from jobrunner.storage.records import Published
from jobrunner.values import suggest


@dataclass(frozen=True, slots=True)
class Prepared:
    """Jobs checked and built, not stored yet (`Client.prepare`, then `Client.store`)."""

    jobs: list[Job]
    delay: float
    at: float | None
    idempotency_ttl: float | None


class Client:
    """A producer's handle on one storage: `enqueue` jobs and look them up with `job`."""

    def __init__(self, storage_url: str, *, refresh: float = 1.0) -> None:
        self._start(open_storage(storage_url), owned=True, refresh=refresh)

    @classmethod
    def over(cls, storage: Storage, *, refresh: float = 1.0) -> Client:
        """A client on a storage already open (the HTTP server's); `close` leaves it open."""
        client = cls.__new__(cls)
        client._start(storage, owned=False, refresh=refresh)
        return client

    def _start(self, storage: Storage, *, owned: bool, refresh: float) -> None:
        self.storage = storage
        self._owned = owned  # close() closes the storage
        self.refresh = refresh  # seconds a read of the published configuration is reused
        self._doc: Published | None = None
        self._read_at = -math.inf
        self._validators: dict[str, Any] = {}  # by queue, for the cached configuration

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.storage.close()

    def enqueue(
        self,
        queue: str,
        payload: Any = None,
        *,
        delay: float | timedelta | None = None,
        at: datetime | float | None = None,
        priority: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Put a job into `queue`; its id.

        `delay` (seconds or a timedelta) or `at` (an aware datetime, or epoch
        seconds) make it wait. `priority` (critical, high, normal, low)
        defaults to the queue's. `idempotency_key` defaults to the queue's
        `idempotency.key` template rendered over the payload; a second job
        with the same key within the queue's ttl is not stored, and the first
        job's id is returned instead. `EnqueueError` if the job is refused.
        """
        policy = self._queue(queue)
        wait, run_at = when(delay, at)
        job, ttl = self._job(
            queue, policy, payload, priority_rank(priority, policy), idempotency_key
        )
        return self.storage.enqueue(job, delay=wait, at=run_at, idempotency_ttl=ttl)

    def enqueue_many(
        self,
        queue: str,
        payloads: Iterable[Any],
        *,
        delay: float | timedelta | None = None,
        at: datetime | float | None = None,
        priority: str | None = None,
        idempotency_keys: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Put a job into `queue` for each of `payloads`, in a round trip per 500 or so;
        their ids, in order (an earlier job's where an idempotency key was seen).

        Each payload is checked as `enqueue` checks one, all before any is stored: a
        refused one raises `BatchRefused` (an `EnqueueError`) naming its index, and
        nothing is stored. `delay`, `at` and `priority` apply to every job;
        `idempotency_keys`, one per payload (None: the queue's template, if any), to each.

        Each job is stored atomically, the batch is not: a `StorageError` midway may leave
        part of it stored, and calling again stores the rest but also those again, unless
        the jobs have idempotency keys (the queue's template or `idempotency_keys`).
        """
        return self.store(
            self.prepare(
                queue,
                payloads,
                delay=delay,
                at=at,
                priority=priority,
                idempotency_keys=idempotency_keys,
            )
        )

    def prepare(
        self,
        queue: str,
        payloads: Iterable[Any],
        *,
        delay: float | timedelta | None = None,
        at: datetime | float | None = None,
        priority: str | None = None,
        idempotency_keys: Iterable[str | None] | None = None,
    ) -> Prepared:
        """The jobs `enqueue_many` would store, checked and built, for `store`: so that
        batches with different options (the HTTP batch route's) are all checked before
        any is stored. `BatchRefused` for the first payload refused."""
        policy = self._queue(queue)
        wait, run_at = when(delay, at)
        rank = priority_rank(priority, policy)
        bodies = list(payloads)
        keys: Sequence[str | None] = (
            [None] * len(bodies) if idempotency_keys is None else list(idempotency_keys)
        )
        if len(keys) != len(bodies):
            raise EnqueueError(
                f"{len(bodies)} payloads but {len(keys)} idempotency keys: give one per payload "
                "(None where the queue's template decides)"
            )
        jobs, ttl = [], None  # the queue's ttl, the same for every job that has a key
        for index, (payload, key) in enumerate(zip(bodies, keys, strict=True)):
            try:
                job, keep = self._job(queue, policy, payload, rank, key)
            except EnqueueError as exc:
                raise BatchRefused(index, str(exc)) from None
            jobs.append(job)
            ttl = keep if keep is not None else ttl
        return Prepared(jobs, wait, run_at, ttl)

    def store(self, *batches: Prepared) -> list[str]:
        """Store prepared jobs (`prepare`); their ids, batch after batch, in order."""
        return [
            job_id
            for batch in batches
            for job_id in self.storage.enqueue_many(
                batch.jobs, delay=batch.delay, at=batch.at, idempotency_ttl=batch.idempotency_ttl
            )
        ]

    def _job(
        self, queue: str, policy: Mapping[str, Any], payload: Any, rank: int, key: str | None
    ) -> tuple[Job, float | None]:
        """A job of `payload`, checked, and its idempotency ttl; `EnqueueError` if refused."""
        body = payload_json(queue, payload if payload is not None else {}, policy)
        self._check_schema(queue, policy, body)
        key, ttl = idempotency(queue, policy, body, key)
        job = Job(
            id=new_id(),
            queue=queue,
            payload=body,
            priority=rank,
            created=time.time(),
            idempotency_key=key,
            trace_id=new_trace_id(),
        )
        return job, ttl

    def job(self, job_id: str) -> JobInfo | None:
        """What is known of a job, or None if its id is unknown (or its record expired)."""
        record = self.storage.record(job_id)
        return JobInfo.from_record(record) if record else None

    def jobs(
        self,
        queue: str | None = None,
        *,
        states: Iterable[str] = (),
        since: float | None = None,
        until: float | None = None,
        where: tuple[str, Any] | None = None,
        limit: int = search.LIMIT,
        cursor: str | None = None,
    ) -> JobPage:
        """A page of jobs, newest first by creation time: of `queue` (every queue if None),
        in one of `states` (names; any if empty), created in `[since, until)` (epoch
        seconds), whose payload field `where[0]` (a dotted path, `customer.id`) equals the
        JSON value `where[1]`. Pass the page's `next` as `cursor` for the next one.

        One call reads at most `search.BUDGET` stored entries, so a page may be short, even
        empty, while `next` says there is more to look at. ValueError for a bad filter, a
        `limit` out of 1..500 or a cursor that is not the `next` of this same search.
        """
        match = None if where is None else search.Match.parse(*where)
        query = search.Query(
            queue, search.states(states), since, until, match, limit, cursor or None
        )
        page = self.storage.jobs(query)
        found = tuple(map(JobInfo.from_record, page.records))
        return JobPage(found, page.next, page.examined)

    # -- pausing queues ----------------------------------------------------------

    def pause(self, queue: str, reason: str | None = None, *, by: str | None = None) -> Pause:
        """Pause `queue`; the pause now in force.

        From now on no daemon leases its jobs, and within a second none starts a job it
        leased before; running jobs finish. Enqueues still work: the jobs wait. The pause
        is kept in storage (restarts, every host) until `resume`. `by` defaults to
        user@host. Pausing a paused queue replaces its who, when and why.
        `EnqueueError` for a queue the configuration in force does not have.
        """
        self._queue(queue)
        if reason is not None and len(reason) > PAUSE_TEXT:
            raise EnqueueError(
                f"the reason is {len(reason):,} characters, over the limit of {PAUSE_TEXT}: "
                "say it in a line, with a ticket or a link for the rest"
            )
        pause = Pause(queue, time.time(), operator() if by is None else by, reason or "")
        self.storage.pause(pause)
        return pause

    def resume(self, queue: str) -> Pause | None:
        """Lift the pause of `queue` and wake the workers; the pause it lifted, or None if
        the queue was not paused. A paused queue no longer configured can be resumed.
        `EnqueueError` for a queue neither paused nor in the configuration in force.
        """
        pause = self.storage.paused().get(queue)
        if pause is None:
            self._queue(queue)
            return None
        self.storage.resume(queue)
        return pause

    # -- cancelling and retrying ----------------------------------------------

    def cancel(self, job_id: str) -> Cancel:
        """Cancel job `job_id`: what happened.

        `Cancel.CANCELLED`: it waited (queued, scheduled, waiting for a retry) and never
        runs now. `Cancel.REQUESTED`: it runs, and the daemon running it stops it within
        about a second (a `shell` command or an isolated handler is killed, an in-process
        handler sees `ctx.cancelled`); it ends CANCELLED, not retried. `Cancel.FINISHED`:
        it had ended already. `UnknownJob` for an id the storage does not know.
        A cancelled job is kept as long as its queue keeps dead ones (`retry` puts it back).
        """
        record = self.storage.record(job_id)
        keep = DEAD_LETTER_RETAIN.total_seconds()
        if record is not None:
            with contextlib.suppress(EnqueueError):
                keep = float(self._queue(record.job.queue).get("dead_retain", keep))
        done = self.storage.cancel(job_id, keep)
        if done is Cancel.UNKNOWN:
            raise UnknownJob(f"no job '{job_id}': unknown id, or its record expired")
        return done

    def retry(self, job_id: str) -> bool:
        """Put dead or cancelled job `job_id` back in its queue as a fresh first attempt,
        its history kept; False when it is neither (it waits, runs or succeeded).
        `UnknownJob` for an id the storage does not know."""
        if self.storage.record(job_id) is None:
            raise UnknownJob(f"no job '{job_id}': unknown id, or its record expired")
        return self.storage.replay(job_id)

    def paused(self) -> dict[str, Pause]:
        """The paused queues, by name, with who paused them, when (epoch seconds) and why."""
        return self.storage.paused()

    # -- the published configuration -----------------------------------------

    def published(self, *, fresh: bool = False) -> Published:
        """The configuration the daemons run, at most `refresh` seconds old."""
        now = time.monotonic()
        if fresh or self._doc is None or now - self._read_at >= self.refresh:
            doc = records.read_published(self.storage)
            if doc is None:
                raise EnqueueError(
                    f"no daemon has published a configuration to {self.storage.url} yet: "
                    "start `jobrunner run` once (with the same --storage)"
                )
            if self._doc is None or doc.hash != self._doc.hash:
                self._validators.clear()
            self._doc, self._read_at = doc, now
        return self._doc

    def _queue(self, name: str) -> Mapping[str, Any]:
        queues = self.published().queues
        if name not in queues:  # it may have been added a moment ago
            queues = self.published(fresh=True).queues
        if name in queues:
            return dict(queues[name])
        known = ", ".join(sorted(queues)) or "none"
        generation = self.published().generation
        raise EnqueueError(
            f"unknown queue '{name}'{suggest.did_you_mean(name, queues)}: "
            f"the configuration in force (generation {generation}) has queues: {known}"
        )

    def _check_schema(self, queue: str, policy: Mapping[str, Any], payload: Any) -> None:
        schema = policy.get("payload_schema")
        if schema is None:
            return
        validator = self._validators.get(queue)
        if validator is None:  # compiled once per queue: a valid payload is checked in Rust
            from jobrunner.config import compiled  # not at import: it loads the config stage

            validator = self._validators[queue] = compiled.Validator(schema)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(map(str, e.path)))
        if errors:
            found = "; ".join(
                f"{schema_path(e.path)}: {e.message}" for e in errors[:MAX_SCHEMA_ERRORS]
            )
            more = len(errors) - MAX_SCHEMA_ERRORS
            found += f"; and {more} more" if more > 0 else ""
            raise EnqueueError(
                f"payload for queue '{queue}' does not match its payload_schema "
                f"({policy.get('source', 'jobs.d')}): {found}"
            )


def operator() -> str:
    """Who is at work here, for the record: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a UID without a name (a container's)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"
