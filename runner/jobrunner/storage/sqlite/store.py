"""The embedded storage: one SQLite file, shared safely by the processes of one host.

A job waits in `queue` until it is due; a worker leases it by writing its
daemon's name and a lease expiry on the row (the row stays), and the row is
deleted only when the attempt ends. A row whose lease expired goes back to
waiting. `seq` is AUTOINCREMENT, so a row id is never reused while an old
lease could still name it, and `delivery` counts the row's deliveries: a
lease token is `seq:delivery`, so only the delivery that holds the job now
can settle it. A token from an expired delivery (its daemon paused past the
lease and resumed, say) changes nothing and returns False. A queue named in
`paused` leases nothing (checked in the lease's own transaction), and its jobs
are never due for `wait`. `cancel` on a leased row is a cancel request: the daemon
that holds the job reads it (`cancel_requested`) and ends the attempt.

Threads of a process share one connection behind a lock. Waiting workers
sleep on a condition, woken by this process's own commits that may make a
job due, and by other processes' commits, which wake.py notices (inotify on
the WAL file, `PRAGMA data_version` as the fallback).

Whoever can write the file may have written anything, and SQLite keeps a
value of any type in any column: every value read back is checked, never
trusted. A row whose time is not a number is due at once (its lease expired),
so a worker reads it and dead-letters what does not decode; a counter that
is not a whole number counts from 0; a record that does not read is shown
dead with its bytes and the reason; a name that is not text is shown as
text; text that is not UTF-8 is read with U+FFFD in place of the bad bytes.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobrunner.job import Job, Record, State, Unreadable, unreadable_record
from jobrunner.storage.base import (
    HISTORY_KEEP,
    Cancel,
    Done,
    Found,
    Lease,
    Pause,
    QueueStats,
    Reclaimed,
    Redelivery,
    StorageError,
    Tally,
    buried_lost,
    cancelled,
    decode_pause,
    lost,
)
from jobrunner.storage.search import Candidate, Page, Position, Query, collect, passes, start
from jobrunner.storage.signing import (
    Keys,
    dump_value,
    load_value,
    peek,
    refused_message,
    seal,
    unseal,
)
from jobrunner.storage.sqlite.checkpoint import AUTOCHECKPOINT_PAGES, Checkpoints
from jobrunner.storage.sqlite.schema import create
from jobrunner.storage.sqlite.wake import Changes
from jobrunner.storage.stored import decode_stored

BUSY_SECONDS = 30.0  # how long a write waits for another process's lock before it fails
SPINS = (0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032)  # seconds between first tries (_begin)
JSON = "(typeof(data) = 'text' AND json_valid(data))"  # SQL: a record's data is JSON text
NUMBER = "typeof({0}) IN ('integer', 'real')"  # SQL: column {0} holds a number
WHOLE = "(typeof({0}) = 'integer' AND {0} BETWEEN 0 AND 1e15)"  # SQL: a sane counter
PUT_RECORD = (  # SQL: a record's row (`_record_row`), then its expiry
    "INSERT OR REPLACE INTO record (id, queue, state, data, updated, created, expires)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SqliteStorage:
    def __init__(
        self, path: str | Path, *, busy_timeout: float = BUSY_SECONDS, keys: Keys | None = None
    ) -> None:
        self.path, self.keys = Path(path), keys
        self.busy_timeout = busy_timeout
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.RLock()
        self._changed = threading.Condition()
        self._version = 0  # commits noticed (wake.py) or made here that may make a job due
        self._watcher: threading.Thread | None = None
        self._changes: Changes | None = None  # what the watcher runs
        self._closed = threading.Event()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            create(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open {self.url}: {exc}") from None
        checkpoints = Checkpoints(self.path, self._connect, self._closed)  # off the commits
        self._checkpoints = threading.Thread(
            target=checkpoints.run, name="jobrunner-sqlite-checkpoint", daemon=True
        )
        self._checkpoints.start()

    @classmethod
    def from_url(cls, url: str, keys: Keys | None = None) -> SqliteStorage:
        path = url.split(":", 1)[1]
        if not path.startswith("//"):
            raise StorageError(
                f"'{url}': write sqlite:///relative/path or sqlite:////absolute/path"
            )
        return cls(path[3:] if path.startswith("///") else path[2:], keys=keys)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")  # checkpoint.py
        db.text_factory = _text  # a stray writer's text that is not UTF-8 reads, with U+FFFD
        return db

    @contextmanager
    def _write(self, *, wake: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so concurrent writers queue up, not deadlock.

        With `wake`, the transaction may have made a job due (enqueue, retry, release,
        reclaim, replay), and this process's waiting workers are woken after it. Only
        then: a worker's own empty lease must not wake the others, or idle workers keep
        waking each other (other processes' commits are noticed by wake.py).

        A database locked for longer than the busy timeout, read-only, full or broken
        raises `StorageError`, like an unreachable Redis: the caller retries or reports.
        """
        with self._lock, self._errors():
            self._begin()
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if wake:
            self.wake()

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: the write lock, tried again after short sleeps while another
        process holds it (SPINS), then with SQLite's own busy handler for the rest of the
        busy timeout. That handler sleeps 1, 2, 5, 10 ms… between tries: a lock held for
        a fraction of a millisecond by a daemon's lease or ack cost a producer 1 to 3 ms."""
        db = self._db
        db.execute("PRAGMA busy_timeout=0")
        try:
            for pause in SPINS:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                time.sleep(pause)
        finally:
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        db.execute("BEGIN IMMEDIATE")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._errors():
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: {exc}") from None

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
        """One write transaction for the batch. Messages and records are encoded before
        it, so the database is locked (and the workers' leases and acks wait) only for
        the lookups and the inserts."""
        now = time.time()
        run_at = at if at is not None else now + delay
        state = State.SCHEDULED if run_at > now else State.QUEUED
        rows = [(j.id, j.queue, j.priority, run_at, seal(self.keys, j.encode())) for j in jobs]
        records = [
            (j.id, j.queue, state.value, Record(j, state, updated=now, run_at=run_at).encode())
            for j in jobs
        ]
        ids = [job.id for job in jobs]
        with self._write(wake=True) as db:
            waiting = {
                _name(row[0])
                for row in db.execute(
                    "SELECT id FROM queue WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                )
            }
            fresh = []
            for n, job in enumerate(jobs):
                if job.idempotency_key is not None and idempotency_ttl:
                    earlier = _claim(db, job, job.idempotency_key, now, idempotency_ttl)
                    if earlier is not None:
                        ids[n] = earlier
                        continue
                if job.id not in waiting:  # waiting or running already: a retried call
                    waiting.add(job.id)
                    fresh.append(n)
            db.executemany(
                "INSERT INTO queue (id, queue, priority, run_at, body) VALUES (?, ?, ?, ?, ?)",
                [rows[n] for n in fresh],
            )
            db.executemany(
                "INSERT OR REPLACE INTO record (id, queue, state, data, updated, expires, created)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?)",
                [(*records[n], now, start(jobs[n].created)) for n in fresh],
            )
        return ids

    def _insert(self, db: sqlite3.Connection, job: Job, run_at: float) -> None:
        db.execute(
            "INSERT INTO queue (id, queue, priority, run_at, body) VALUES (?, ?, ?, ?, ?)",
            (job.id, job.queue, job.priority, run_at, seal(self.keys, job.encode())),
        )

    def _put_record(self, db: sqlite3.Connection, record: Record, expires: float | None) -> None:
        db.execute(PUT_RECORD, (*_record_row(record), expires))

    # -- workers -----------------------------------------------------------

    def lease(self, queue: str, owner: str, *, count: int, lease_for: float) -> list[Lease]:
        return self.lease_many({queue: count}, owner, lease_for=lease_for)[queue].leases

    def lease_many(
        self, wants: Mapping[str, int], owner: str, *, lease_for: float
    ) -> dict[str, Found]:
        """Every queue's lease in one write transaction; messages are unsealed after it."""
        now = time.time()
        taken = {}
        with self._write() as db:
            for queue, count in wants.items():
                taken[queue] = self._take(db, queue, owner, count, now, now + lease_for)
        found = {}
        for queue, (rows, histories, due_in) in taken.items():
            leases = []
            for (_, seq, job_id, body, deliveries, delivery), history in zip(
                rows, histories, strict=True
            ):
                raw, refused = unseal(self.keys, _bytes(body))
                token, again = f"{seq}:{delivery}", _count(deliveries)
                leases.append(Lease(token, _name(job_id), queue, raw, again, refused, history))
            found[queue] = Found(leases, due_in)
        return found

    def _take(
        self, db: sqlite3.Connection, queue: str, owner: str, count: int, now: float, until: float
    ) -> tuple[list[Any], list[bool], float | None]:
        """Lease up to `count` due rows of `queue`: the rows, whether each job has history,
        and when to ask again (`Found.due_in`)."""
        if db.execute("SELECT 1 FROM paused WHERE queue = ?", (queue,)).fetchone():
            return [], [], None  # paused: its jobs wait
        rows = db.execute(
            "UPDATE queue SET owner = ?, lease_until = ?, delivery = CASE WHEN "
            f"{WHOLE.format('delivery')} THEN delivery + 1 ELSE 1 END"
            " WHERE seq IN ("
            " SELECT seq FROM queue WHERE queue = ? AND owner IS NULL"
            f" AND (run_at <= ? OR NOT {NUMBER.format('run_at')})"
            " ORDER BY priority, seq LIMIT ?)"
            " RETURNING priority, seq, id, body, deliveries, delivery",
            (owner, until, queue, now, max(count, 0)),
        ).fetchall()
        rows.sort(key=lambda row: (_rank(row[0]), row[1]))
        histories = self._running(db, [_name(row[2]) for row in rows], now)
        if len(rows) >= count:
            return rows, histories, 0.0
        [(first,)] = db.execute(
            "SELECT MIN(run_at) FROM queue WHERE queue = ? AND owner IS NULL"
            f" AND {NUMBER.format('run_at')}",
            (queue,),
        ).fetchall()
        return rows, histories, None if first is None else max(0.0, first - now)

    def _running(self, db: sqlite3.Connection, job_ids: list[str], now: float) -> list[bool]:
        """Mark the jobs' records running, in one statement; for each, whether it holds
        earlier attempts (or is unreadable, or missing: then the worker reads it to find
        out). A stray writer's bytes there block nothing."""
        if not job_ids:
            return []
        rows = db.execute(
            f"UPDATE record SET state = 'running', updated = ?, data = CASE WHEN {JSON}"
            " THEN json_set(data, '$.state', 'running', '$.updated', ?) ELSE data END"
            " WHERE id IN (SELECT value FROM json_each(?))"
            f" RETURNING id, CASE WHEN {JSON}"
            " THEN coalesce(json_array_length(data, '$.attempts'), 0) ELSE 1 END",
            (now, now, json.dumps(job_ids)),
        ).fetchall()
        fresh = {_name(job_id) for job_id, history in rows if not history}
        return [job_id not in fresh for job_id in job_ids]

    def wake(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def moment(self) -> int:
        self._watch()
        with self._changed:
            return self._version

    def holding(self, queues: Collection[str]) -> set[str]:
        """One read: the queues of `queues` with a due row that no one holds."""
        rows = self._read(
            "SELECT value FROM json_each(?) WHERE EXISTS (SELECT 1 FROM queue"
            " WHERE queue = value AND owner IS NULL"
            f" AND (run_at <= ? OR NOT {NUMBER.format('run_at')}))",
            (json.dumps(list(queues)), time.time()),
        )
        return {queue for (queue,) in rows}

    def woken(self, since: int, queues: Collection[str], timeout: float) -> tuple[int, set[str]]:
        """Every commit may have made a job due, in any queue: after one, the queues with
        a job waiting (due or scheduled; paused or not) are named, one indexed look each."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout)
            version = self._version
        if version == since:
            return since, set()
        with self._lock, self._errors():
            look = self._db.execute
            if look("SELECT 1 FROM queue WHERE owner IS NULL LIMIT 1").fetchone() is None:
                return version, set()  # nothing waits anywhere (a heartbeat's commit): one look
            sql = "SELECT 1 FROM queue WHERE queue = ? AND owner IS NULL LIMIT 1"
            return version, {q for q in queues if look(sql, (q,)).fetchone()}

    def _watch(self) -> None:
        """Start (once) the thread that notices other processes' commits."""
        with self._lock:
            if self._watcher is None:
                self._changes = Changes(self.path, self._connect, self.wake, self._closed)
                self._watcher = threading.Thread(
                    target=self._changes.run, name="jobrunner-sqlite-watch", daemon=True
                )
                self._watcher.start()

    def extend(self, owner: str, lease_for: float, held: Collection[Lease] | None = None) -> int:
        until = time.time() + lease_for
        with self._write() as db:
            if held is None:
                sql = "UPDATE queue SET lease_until = ? WHERE owner = ?"
                return db.execute(sql, (until, owner)).rowcount
            tokens = [lease.token.partition(":") for lease in held]
            rows = [(until, owner, seq, n) for seq, _, n in tokens if seq.isdigit() and n.isdigit()]
            sql = "UPDATE queue SET lease_until = ? WHERE owner = ? AND seq = ? AND delivery = ?"
            return sum(db.execute(sql, row).rowcount for row in rows)

    def _take_lease(self, db: sqlite3.Connection, lease: Lease) -> bool:
        """End delivery `lease` if it still holds the job: the row is gone then."""
        seq, _, delivery = lease.token.partition(":")
        try:
            token = (int(seq), int(delivery))
        except ValueError:
            return False  # not a token this storage gave out
        cursor = db.execute(
            "DELETE FROM queue WHERE seq = ? AND delivery = ? AND id = ? AND owner IS NOT NULL",
            (*token, lease.job_id),
        )
        return cursor.rowcount == 1

    # A stale lease (expired and delivered again, or already settled) settles nothing:
    # the delivery that holds the job now writes its record.

    def ack(self, lease: Lease, record: Record, keep_for: float) -> bool:
        return self.ack_many([Done(lease, record, keep_for)])[0]

    def ack_many(self, done: Sequence[Done]) -> list[bool]:
        """Every ack in one write transaction, each fenced by its own token. The records are
        encoded before it and written in one statement, the outcomes tallied once a kind:
        the write lock, which a producer's enqueue waits for, is held for little else."""
        rows = [_record_row(d.record) for d in done]
        with self._write() as db:
            now = time.time()
            answers = [self._take_lease(db, d.lease) for d in done]
            acted = [(d, row) for d, row, held in zip(done, rows, answers, strict=True) if held]
            db.executemany(PUT_RECORD, [(*row, now + d.keep_for) for d, row in acted])
            tallies = Counter((d.lease.queue, d.record.state.value) for d, _ in acted)
            for (queue, outcome), count in tallies.items():
                _tally(db, queue, outcome, now, count)
        return answers

    def retry(self, lease: Lease, job: Job, delay: float, record: Record) -> bool:
        with self._write(wake=True) as db:
            now = time.time()
            held = self._take_lease(db, lease)
            if held:
                self._insert(db, job, now + delay)
                self._put_record(db, replace(record, run_at=now + delay), None)
                _tally(db, lease.queue, "retried", now)
        return held

    def bury(self, lease: Lease | None, record: Record, keep_for: float) -> bool:
        with self._write() as db:
            if lease is None:
                db.execute("DELETE FROM queue WHERE id = ?", (record.job.id,))
                held = True
            else:
                held = self._take_lease(db, lease)
            if held:
                now = time.time()
                self._put_record(db, replace(record, state=State.DEAD), now + keep_for)
                _tally(db, record.job.queue if lease is None else lease.queue, "dead", now)
        return held

    def release(self, owner: str) -> int:
        with self._write(wake=True) as db:
            rows = db.execute(
                "UPDATE queue SET owner = NULL, lease_until = NULL WHERE owner = ? RETURNING id",
                (owner,),
            ).fetchall()
            for (job_id,) in rows:
                self._set_state(db, job_id, State.QUEUED)
        return len(rows)

    def _set_state(self, db: sqlite3.Connection, job_id: str, state: State) -> None:
        db.execute(
            f"UPDATE record SET state = ?, data = CASE WHEN {JSON}"
            " THEN json_set(data, '$.state', ?) ELSE data END WHERE id = ?",
            (state.value, state.value, job_id),
        )

    def reclaim(self, policies: Mapping[str, Redelivery], default: Redelivery) -> list[Reclaimed]:
        now = time.time()
        moved = []
        with self._write() as db:  # it wakes the workers (below) only if it moved a job
            expired = db.execute(
                "SELECT seq, id, queue, deliveries, owner FROM queue WHERE owner IS NOT NULL"
                f" AND (lease_until < ? OR NOT {NUMBER.format('lease_until')})",
                (now,),
            ).fetchall()
            for seq, stored_id, stored_queue, stored_deliveries, stored_owner in expired:
                job_id, queue, owner = _name(stored_id), _name(stored_queue), _name(stored_owner)
                deliveries = _count(stored_deliveries)
                policy = policies.get(queue, default)
                buried = deliveries + 1 >= policy.max_deliveries
                moved.append(Reclaimed(job_id, queue, buried))
                row = db.execute("SELECT data FROM record WHERE id = ?", (stored_id,)).fetchone()
                record = lost(_stored(db, seq, row[0] if row else None), owner, now)
                _tally(db, queue, "dead" if buried else "lost", now)
                if buried:
                    db.execute("DELETE FROM queue WHERE seq = ?", (seq,))
                    dead = buried_lost(record, deliveries + 1, owner)
                    self._put_record(db, dead, now + policy.dead_retain)
                    continue
                db.execute(
                    "UPDATE queue SET owner = NULL, lease_until = NULL,"
                    " deliveries = ? WHERE seq = ?",
                    (deliveries + 1, seq),
                )
                self._put_record(db, replace(record, state=State.QUEUED), None)
        if moved:
            self.wake()
        return moved

    # -- pausing -------------------------------------------------------------

    def pause(self, pause: Pause) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO paused VALUES (?, ?)", (pause.queue, pause.encode()))

    def resume(self, queue: str) -> bool:
        with self._write(wake=True) as db:
            return db.execute("DELETE FROM paused WHERE queue = ?", (queue,)).rowcount == 1

    def paused(self) -> dict[str, Pause]:
        """A stray writer's row named by other than text pauses nothing (`lease` compares
        text), so it is not listed either."""
        rows = self._read(
            "SELECT queue, info FROM paused WHERE typeof(queue) = 'text' ORDER BY queue"
        )
        return {queue: decode_pause(queue, _bytes(info)) for queue, info in rows}

    # -- cancelling ----------------------------------------------------------

    def cancel(self, job_id: str, keep_for: float) -> Cancel:
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT seq, owner FROM queue WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                found = db.execute("SELECT 1 FROM record WHERE id = ?", (job_id,)).fetchone()
                return Cancel.FINISHED if found else Cancel.UNKNOWN
            seq, owner = row
            if owner is not None:
                db.execute("UPDATE queue SET cancel = 1 WHERE seq = ?", (seq,))
                return Cancel.REQUESTED
            data = db.execute("SELECT data FROM record WHERE id = ?", (job_id,)).fetchone()
            record = cancelled(_stored(db, seq, data[0] if data else None), now)
            db.execute("DELETE FROM queue WHERE seq = ?", (seq,))
            self._put_record(db, record, now + keep_for)
        return Cancel.CANCELLED

    def cancel_requested(self, leases: Sequence[Lease]) -> set[str]:
        if not leases:
            return set()
        ids = sorted({lease.job_id for lease in leases})
        rows = self._read(
            f"SELECT id FROM queue WHERE cancel = 1 AND owner IS NOT NULL"
            f" AND id IN ({','.join('?' * len(ids))})",
            ids,
        )
        return {_name(job_id) for (job_id,) in rows}

    # -- rate limits -------------------------------------------------------

    def take(self, queue: str, count: int, period: float) -> float:
        with self._write() as db:
            now = time.time()  # read inside the lock: a stale `now` would over-admit
            db.execute(
                f"DELETE FROM rate WHERE queue = ? AND (at <= ? OR NOT {NUMBER.format('at')}"
                " OR at > ?)",
                (queue, now - period, now + period),
            )
            rows = db.execute(
                "SELECT at FROM rate WHERE queue = ? ORDER BY at LIMIT ?", (queue, count)
            ).fetchall()
            if len(rows) < count:
                db.execute("INSERT INTO rate VALUES (?, ?)", (queue, now))
                return 0.0
            return max(0.001, float(rows[0][0]) + period - now)

    # -- inspection ----------------------------------------------------------

    def record(self, job_id: str) -> Record | None:
        rows = self._read("SELECT data, queue FROM record WHERE id = ?", (job_id,))
        return _readable(job_id, _name(rows[0][1]), rows[0][0]) if rows else None

    def dead(self, queue: str | None = None, limit: int = 100) -> list[Record]:
        sql = "SELECT data, id, queue FROM record WHERE state = 'dead'"
        args: list[Any] = []
        if queue:
            sql += " AND queue = ?"
            args.append(queue)
        rows = self._read(sql + " ORDER BY updated LIMIT ?", [*args, limit])
        return [_readable(_name(job_id), _name(queue), data) for data, job_id, queue in rows]

    def jobs(self, query: Query) -> Page:
        """Read from `record` (every job has one from its enqueue on) by the creation-time
        indexes; rows whose `created` a stray writer made other than a number are left out."""
        return collect(query, lambda after, n: self._listed(query, after, n))

    def _listed(self, query: Query, after: Position | None, n: int) -> list[Candidate]:
        sql = f"SELECT created, id, queue, state, data FROM record WHERE {NUMBER.format('created')}"
        args: list[Any] = []
        for clause, value in (
            ("queue = ?", query.queue),
            ("created >= ?", query.since),
            ("created < ?", query.until),
        ):
            if value is not None:
                sql, args = f"{sql} AND {clause}", [*args, value]
        if after is not None:
            sql, args = f"{sql} AND (created, id) < (?, ?)", [*args, *after]
        rows = self._read(f"{sql} ORDER BY created DESC, id DESC LIMIT ?", [*args, n])
        return [  # a row the filters refuse by its state or payload is not decoded
            (
                Position(float(created), _name(job_id)),
                _readable(_name(job_id), _name(q), data)
                if passes(query, state, data if isinstance(data, str | bytes) else None)
                else None,
            )
            for created, job_id, q, state, data in rows
        ]

    def replay(self, job_id: str) -> bool:
        now = time.time()
        with self._write(wake=True) as db:
            row = db.execute(
                "SELECT data FROM record WHERE id = ? AND state IN ('dead', 'cancelled')",
                (job_id,),
            ).fetchone()
            if row is None:
                return False
            try:
                record = decode_stored(row[0])
            except Unreadable:
                return False  # nothing to run: it stays dead, its bytes and reason in view
            if refused_message(record):
                return False
            job = replace(record.job, attempt=1)
            db.execute("DELETE FROM queue WHERE id = ?", (job_id,))
            self._insert(db, job, now)
            self._put_record(
                db,
                replace(
                    record,
                    job=job,
                    state=State.QUEUED,
                    reason="",
                    updated=now,
                    deliveries=0,
                    run_at=now,
                ),
                None,
            )
        return True

    def purge(self, queue: str | None = None, job_id: str | None = None) -> int:
        sql, args = "DELETE FROM record WHERE state = 'dead'", list[str]()
        if queue:
            sql, args = sql + " AND queue = ?", [*args, queue]
        if job_id:
            sql, args = sql + " AND id = ?", [*args, job_id]
        with self._write() as db:
            return db.execute(sql, args).rowcount

    def queue_names(self) -> list[str]:
        rows = self._read(
            "SELECT DISTINCT queue FROM queue WHERE typeof(queue) = 'text'"
            " UNION SELECT DISTINCT queue FROM record WHERE typeof(queue) = 'text'"
        )
        return sorted(str(queue) for (queue,) in rows)

    def stats(self) -> dict[str, QueueStats]:
        """Counts by queue, and since when its longest-waiting ready job has been due; a queue
        name a stray writer stored as other than text is shown as text (a blob's bytes,
        decoded). One pass over the waiting jobs, by the queue index."""
        now = time.time()
        due = f"(run_at <= ? OR NOT {NUMBER.format('run_at')})"
        counts: dict[str, dict[str, int]] = {}
        oldest: dict[str, float] = {}
        for queue, ready, scheduled, running, since in self._read(
            f"SELECT queue, SUM(owner IS NULL AND {due}), SUM(owner IS NULL AND NOT {due}),"
            " SUM(owner IS NOT NULL),"
            f" MIN(CASE WHEN owner IS NULL AND run_at <= ? AND {NUMBER.format('run_at')}"
            " THEN run_at END) FROM queue GROUP BY queue",
            (now, now, now),
        ):
            name = _name(queue)
            found = counts.setdefault(name, {})
            for field, n in (("ready", ready), ("scheduled", scheduled), ("running", running)):
                found[field] = found.get(field, 0) + n
            if since is not None:
                oldest[name] = min(float(since), oldest.get(name, math.inf))
        for queue, dead in self._read(
            "SELECT queue, COUNT(*) FROM record WHERE state = 'dead' GROUP BY queue"
        ):
            found = counts.setdefault(_name(queue), {})
            found["dead"] = found.get("dead", 0) + dead
        return {
            queue: QueueStats(
                c.get("ready", 0),
                c.get("scheduled", 0),
                c.get("running", 0),
                c.get("dead", 0),
                oldest_ready=oldest.get(queue),
            )
            for queue, c in sorted(counts.items())
        }

    # -- configuration and daemons -------------------------------------------

    def publish(self, document: Mapping[str, Any]) -> None:
        with self._write() as db:
            text = dump_value(self.keys, document)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (text,))

    def published(self) -> dict[str, Any] | None:
        rows = self._read("SELECT value FROM meta WHERE key = 'config'")
        return _load(self.keys, rows[0][0], "published configuration") if rows else None

    def claim(self, key: str, ttl: float) -> bool:
        with self._write() as db:
            now = time.time()
            db.execute("DELETE FROM claim WHERE key = ? AND expires < ?", (key, now))
            cursor = db.execute("INSERT OR IGNORE INTO claim VALUES (?, ?)", (key, now + ttl))
            return cursor.rowcount == 1

    def get_value(self, key: str) -> Any:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (f"value:{key}",))
        return _load(self.keys, rows[0][0], f"value {key}") if rows else None

    def set_value(self, key: str, value: Any) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                (f"value:{key}", dump_value(self.keys, value)),
            )

    def beat(self, daemon: str, info: Mapping[str, Any], ttl: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO daemon VALUES (?, ?, ?)",
                (daemon, json.dumps(info), time.time() + ttl),
            )

    def leave(self, daemon: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM daemon WHERE id = ?", (daemon,))

    def daemons(self) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT id, info FROM daemon WHERE expires > ? OR NOT "
            f"{NUMBER.format('expires')} ORDER BY id",
            (time.time(),),
        )
        return [{**_report(info), "id": _name(daemon)} for daemon, info in rows]

    def expire(self) -> int:
        now = time.time()
        with self._write() as db:
            gone = db.execute(
                "DELETE FROM record WHERE expires IS NOT NULL AND expires < ?", (now,)
            ).rowcount
            gone += db.execute("DELETE FROM idempotency WHERE expires < ?", (now,)).rowcount
            db.execute(
                f"DELETE FROM daemon WHERE expires < ? OR NOT {NUMBER.format('expires')}",
                (now - 3600,),
            )
            db.execute("DELETE FROM claim WHERE expires < ?", (now,))
            db.execute("DELETE FROM history WHERE minute < ?", (now - HISTORY_KEEP,))
        return gone

    def history(self, queue: str | None, since: float) -> list[Tally]:
        sql = "SELECT queue, minute, outcome, count FROM history WHERE minute >= ?"
        args: list[Any] = [since // 60 * 60]
        if queue:
            sql += " AND queue = ?"
            args.append(queue)
        return [
            Tally(_name(q), minute, _name(outcome), count)
            for q, minute, outcome, count in self._read(sql, args)
            if isinstance(minute, int) and isinstance(count, int) and count > 0
        ]

    def close(self) -> None:
        self._closed.set()
        self.wake()
        if self._changes is not None:
            self._changes.stop()
        if self._watcher is not None:
            self._watcher.join(timeout=1)
        self._checkpoints.join(timeout=1)
        with self._lock:
            self._db.close()


def _tally(db: sqlite3.Connection, queue: str, outcome: str, now: float, count: int = 1) -> None:
    """Count `count` attempts' outcome in this minute's tally (history), with their
    settlement."""
    db.execute(
        "INSERT INTO history VALUES (?, ?, ?, ?)"
        " ON CONFLICT (minute, queue, outcome) DO UPDATE SET count = count + excluded.count",
        (queue, int(now // 60) * 60, outcome, count),
    )


def _record_row(record: Record) -> tuple[Any, ...]:
    """A record's row for PUT_RECORD, but for its expiry (encoded outside a transaction)."""
    job, data = record.job, record.encode()
    return (job.id, job.queue, record.state.value, data, record.updated, start(job.created))


def _readable(job_id: str, queue: str, data: Any) -> Record:
    try:
        return decode_stored(_bytes(data))
    except Unreadable as exc:
        return unreadable_record(job_id, queue, _bytes(data), str(exc))


def _stored(db: sqlite3.Connection, seq: int, data: str | None) -> Record:
    """The record of a leased job, or, if it has none that reads, one made from its message."""
    if data is not None:
        try:
            return decode_stored(_bytes(data))
        except Unreadable:
            pass
    return stray(db, seq)


def stray(db: sqlite3.Connection, seq: int) -> Record:
    """A record for a queued message written without one (by a stray writer): keep its bytes."""
    job_id, queue, body = db.execute(
        "SELECT id, queue, body FROM queue WHERE seq = ?", (seq,)
    ).fetchone()
    text = peek(_bytes(body)).decode("utf-8", errors="replace")[:2000]
    job = Job(id=_name(job_id), queue=_name(queue), payload=text)
    return Record(job, State.QUEUED, updated=time.time())


def _text(data: bytes) -> str:
    """TEXT as read from the file: UTF-8, with U+FFFD for bytes that are not."""
    return data.decode("utf-8", errors="replace")


def _bytes(value: Any) -> bytes:
    """A stored BLOB or TEXT as bytes; a number (or NULL) a stray writer stored, as its text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace")
    return b"" if value is None else str(value).encode()


def _name(value: Any) -> str:
    """A stored id, queue or daemon name as text, whatever type a stray writer gave it."""
    if isinstance(value, str):
        return value
    return _bytes(value).decode("utf-8", errors="replace")


def _claim(db: sqlite3.Connection, job: Job, key: str, now: float, ttl: float) -> str | None:
    """The id of the job holding idempotency `key` in the job's queue, if one does (within
    its ttl); else None, and `job` holds the key for `ttl` seconds from `now`."""
    row = db.execute(
        "SELECT job_id FROM idempotency WHERE queue = ? AND key = ? AND expires > ?",
        (job.queue, key, now),
    ).fetchone()
    if row:
        return str(row[0])
    db.execute(
        "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
        (job.queue, key, job.id, now + ttl),
    )
    return None


def _rank(priority: Any) -> float:
    """A stored priority to sort by; one that is not a number sorts last."""
    return priority if isinstance(priority, int | float) else float("inf")


def _count(value: Any) -> int:
    """A stored counter; what is not a whole number counts as 0."""
    return value if isinstance(value, int) and 0 <= value < 2**53 else 0


def _load(keys: Keys | None, raw: Any, what: str) -> Any:
    """A stored JSON value; ValueError saying why when the bytes are not one."""
    try:
        return load_value(keys, _bytes(raw), what)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the stored {what} is not JSON: {exc}") from None


def _report(info: Any) -> dict[str, Any]:
    """A daemon's heartbeat as a dict; one that does not read says why, under `unreadable`."""
    try:
        data = json.loads(_bytes(info))
    except (ValueError, RecursionError) as exc:
        return {"unreadable": f"its heartbeat is not JSON: {exc}"}
    if not isinstance(data, dict):
        return {"unreadable": f"its heartbeat is JSON {type(data).__name__}, not an object"}
    return data
