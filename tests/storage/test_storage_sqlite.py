"""SQLite only: an older database is migrated; a locked or broken one is a StorageError."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import run_cli

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import StorageError
from jobrunner.storage.search import Query
from jobrunner.storage.sqlite.schema import SCHEMA
from jobrunner.storage.sqlite.store import SqliteStorage


def test_a_database_from_before_delivery_tokens_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = SCHEMA.replace(",\n    delivery INTEGER NOT NULL DEFAULT 0", "")
    assert old != SCHEMA
    db = sqlite3.connect(path)
    db.executescript(old)
    job = Job(id=new_id(), queue="q", payload={}, created=time.time())
    db.execute(
        "INSERT INTO queue (id, queue, priority, run_at, body) VALUES (?, 'q', 2, 0, ?)",
        (job.id, job.encode()),
    )
    db.commit()
    db.close()
    store = SqliteStorage(path)
    try:
        [lease] = store.lease("q", "d1", count=1, lease_for=30)
        assert lease.token.endswith(":1")
        assert store.ack(lease, Record(job, State.SUCCEEDED, updated=time.time()), 60)
    finally:
        store.close()


def test_a_database_from_before_the_job_listing_is_migrated(tmp_path: Path) -> None:
    """Records kept by an older version get their creation time from their JSON (0 when it
    does not read), and are listed."""
    path = tmp_path / "state.db"
    old = SCHEMA.replace(",\n    created REAL NOT NULL DEFAULT 0", "")
    assert old != SCHEMA
    db = sqlite3.connect(path)
    db.executescript(old)
    job = Job(id=new_id(), queue="q", payload={"n": 1}, created=time.time() - 60)
    for job_id, data in ((job.id, Record(job, State.SUCCEEDED).encode()), ("junk", "\xff")):
        db.execute(
            "INSERT INTO record (id, queue, state, data, updated) VALUES (?, 'q', 'dead', ?, 0)",
            (job_id, data),
        )
    db.commit()
    db.close()
    store = SqliteStorage(path)
    try:
        page = store.jobs(Query(since=time.time() - 120))
        assert [r.job.id for r in page.records] == [job.id]
        assert [r.job.id for r in store.jobs(Query()).records] == [job.id, "junk"]
    finally:
        store.close()


def test_a_database_locked_too_long_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStorage(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        job = Job(id=new_id(), queue="q", payload={}, created=time.time())
        with pytest.raises(StorageError, match="database is locked"):
            store.enqueue(job)
        assert store.stats() == {}  # WAL: reads go on while another process writes
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.enqueue(Job(id=new_id(), queue="q", payload={}, created=time.time()))  # usable again
    assert store.stats()["q"].ready == 1
    store.close()


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(StorageError, match="not a database"):
        SqliteStorage(path)


def test_the_cli_reports_a_broken_database_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, " * 100)
    for args in (["status"], ["enqueue", "q", "--data", "{}"], ["dlq", "list"]):
        result = run_cli(*args, "--storage", f"sqlite:///{path}")
        assert result.returncode == 1, (args, result.stderr)
        assert "not a database" in result.stderr and "Traceback" not in result.stderr
