"""Fuzz the storage under running daemons: random bytes and keys of the wrong type in every
key (Redis) or cell (SQLite) that one queue and the shared state use. No daemon exits, the
other queue keeps running, and `status` and `dlq list` still answer."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from conftest import run_cli
from daemon_proc import Daemon, wait_until
from garbage import replace_key, set_cell

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Storage

JOBS = """\
version: 1
queues:
  victim:
    handler: python
    params: {callable: "jobapp:hang"}
    rate_limit: 100/s
    concurrency: 4
  healthy: {handler: python, params: {callable: "jobapp:record"}}
cron:  # its state and claims are shared keys, fuzzed too
  tick: {every: 1s, queue: healthy, payload: {out: /dev/null}}
"""
KINDS = ("string", "list", "set", "zset", "hash", "stream")
NUMBERS = (b"NaN", b"inf", b"-inf", b"1e999", b"-1", b"99999999999999999999", b"", b"0x10")


def noise(rng: random.Random) -> bytes:
    """Bytes a stray writer might leave: random, or a number that is not one."""
    if rng.random() < 0.4:
        return rng.choice(NUMBERS)
    return rng.randbytes(rng.randrange(0, 48))


def mutate(raw: object, rng: random.Random) -> object:
    """JSON that still reads as JSON, with one field (maybe of the job inside) of a wrong type:
    what gets past a decoder that only checks the bytes. Anything else becomes noise."""
    try:
        data = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return noise(rng)
    target = data
    if isinstance(target, dict) and isinstance(target.get("job"), dict) and rng.random() < 0.5:
        target = target["job"]
    if not isinstance(target, dict) or not target:
        return noise(rng)
    wrong = [None, "x", 1e308, -1, 2**70, [], {}, "NaN", True, [{"number": "one"}]]
    target[rng.choice(sorted(target))] = rng.choice(wrong)
    return json.dumps(data).encode()


def cell(rng: random.Random) -> object:
    """A SQLite value of any storage class, most of them wrong for the column."""
    return rng.choice(
        [
            None,
            rng.randbytes(rng.randrange(0, 32)),
            rng.randbytes(8).hex(),
            "NaN",
            "{}",
            '{"job": 1}',
            -1,
            2**62,
            1e308,
            -1e308,
            0.5,
        ]
    )


def fuzz_redis(url: str, rng: random.Random, retype: float) -> int:
    """Every key but the healthy queue's: replaced by another type (with chance `retype`), or
    its content garbled."""
    client = redis.Redis.from_url(url)
    try:
        keys = [k for k in client.scan_iter(count=1000) if b"{healthy}" not in k]
        for key in keys:
            kind = client.type(key).decode()
            if rng.random() < retype or kind == "stream":
                replace_key(url, key, rng.choice(KINDS), noise(rng), rng.random() * 1e12)
            elif kind == "hash":
                values = client.hgetall(key) or {b"msg": b""}
                client.hset(key, mapping={f: mutate(v, rng) for f, v in values.items()})
            elif kind == "string" and rng.random() < 0.5:
                client.set(key, mutate(client.get(key), rng))  # type: ignore[arg-type]
            elif kind == "zset":
                client.zadd(key, {noise(rng): rng.choice([float("inf"), -1.0, 1e300])})
            elif kind == "set":
                client.sadd(key, noise(rng))
            elif kind == "list":
                client.rpush(key, noise(rng))
            else:
                client.set(key, noise(rng))
        return len(keys)
    finally:
        client.close()


def fuzz_sqlite(url: str, rng: random.Random, retype: float) -> int:
    """Every cell of every row but the healthy queue's, in every table: a value of another
    kind (with chance `retype`), or its JSON garbled."""
    path = url.split("///", 1)[1]
    db = sqlite3.connect(path, timeout=30)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = []
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            mine = "WHERE queue IS NOT 'healthy'" if "queue" in columns else ""
            for row in db.execute(f"SELECT rowid, * FROM {table} {mine}").fetchall():
                cells += [
                    (table, column, row[0], value)
                    for column, value in zip(columns, row[1:], strict=True)
                    if column != "queue"
                ]
    finally:
        db.close()
    for table, column, rowid, value in cells:
        garbage = cell(rng) if rng.random() < retype else mutate(value, rng)
        set_cell(url, f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (garbage, rowid))
    set_cell(  # and a row of its own, of nothing but garbage, in the queue under attack
        url,
        "INSERT INTO queue (id, queue, priority, run_at, body, deliveries) "
        "VALUES (?, 'victim', ?, ?, ?, ?)",
        (rng.randbytes(6).hex(), cell(rng), cell(rng), rng.randbytes(20), cell(rng)),
    )
    if retype:  # one value of another kind that status must name, whatever else was hit
        set_cell(url, "INSERT OR REPLACE INTO meta VALUES ('config', ?)", (rng.randbytes(9),))
    return len(cells)


@pytest.mark.parametrize(
    ("seed", "retype"),
    [(1, 0.5), (2, 0.5), (3, 0.0), (4, 0.0)],  # half the keys of another type, or none
)
def test_garbage_in_every_key_stops_no_daemon_and_the_other_queue_runs(
    seed: int,
    retype: float,
    tmp_path: Path,
    url: str,
    store: Storage,
    daemons: Callable[..., Daemon],
) -> None:
    rng = random.Random(seed)
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(JOBS)
    out = tmp_path / "victim.jsonl"
    first = daemons(jobs, url, "--lease", "1s")
    now = time.time()
    for n in range(5):  # every kind of key the victim queue has: ready, scheduled, leased…
        store.enqueue(
            Job(new_id(), "victim", {"out": str(out), "n": n}, created=now, idempotency_key=f"k{n}")
        )
    store.enqueue(Job(new_id(), "victim", {"n": 9}, created=now), delay=3600)
    dead = Job(new_id(), "victim", {"n": 10}, created=now)
    store.enqueue(dead)
    store.bury(None, Record(dead, State.DEAD, reason="buried by the test", updated=now), 3600)
    wait_until(lambda: out.exists(), what="a victim job to start")
    second = daemons(jobs, url, "--lease", "1s")
    fuzz = fuzz_redis if url.startswith("redis") else fuzz_sqlite
    touched = fuzz(url, rng, retype)
    assert touched > 10
    time.sleep(3)  # heartbeats, reclaims, cron ticks and leases over the garbage
    for n in range(3):
        job = Job(new_id(), "healthy", {"out": str(tmp_path / "h.jsonl"), "n": n}, created=now)
        store.enqueue(job)

        def done(job: Job = job) -> bool:
            record = store.record(job.id)
            return record is not None and record.state is State.SUCCEEDED

        wait_until(done, what=f"healthy job {n} to succeed", timeout=30)
    for daemon in (first, second):
        assert daemon.process is not None and daemon.process.poll() is None
        crashes = [
            e for e in daemon.events() if "Traceback" in str(e) or e.get("level") == "critical"
        ]
        assert crashes == []
    said = ""
    for args in (["status"], ["dlq", "list"], ["dlq", "list", "--queue", "victim"]):
        result = run_cli(*args, "--storage", url)
        said += result.stdout + result.stderr
        assert result.returncode in (0, 1), (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, args
        assert "internal error" not in result.stderr, args
    if retype:  # a key of the wrong type is named with its reason (garbled values may not be)
        assert any(sign in said for sign in ("storage problems:", "unreadable", "broken")), said
