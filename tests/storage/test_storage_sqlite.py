"""SQLite only: a database written by an earlier version still works, with fenced leases."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage.sqlite import SCHEMA, SqliteStorage


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
