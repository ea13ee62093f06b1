"""The tables of the embedded storage, and bringing an older database up to them."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    run_at REAL NOT NULL,
    owner TEXT,
    lease_until REAL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL,
    delivery INTEGER NOT NULL DEFAULT 0,
    cancel INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (queue, owner, priority, seq);
CREATE INDEX IF NOT EXISTS queue_lease ON queue (owner, lease_until);
CREATE TABLE IF NOT EXISTS record (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL,
    expires REAL,
    created REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS record_state ON record (state, queue);
CREATE INDEX IF NOT EXISTS record_expires ON record (expires);
CREATE TABLE IF NOT EXISTS idempotency (
    queue TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (queue, key)
);
CREATE TABLE IF NOT EXISTS rate (queue TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_queue ON rate (queue, at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claim (key TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS daemon (id TEXT PRIMARY KEY, info TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS paused (queue TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    queue TEXT NOT NULL, minute INTEGER NOT NULL, outcome TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (minute, queue, outcome)
);
"""


# The job listing (`jobs`), newest first by creation time, of one queue or of every queue;
# created after the column they index, which an earlier version's table lacks.
LISTING = """
CREATE INDEX IF NOT EXISTS record_created ON record (created, id);
CREATE INDEX IF NOT EXISTS record_queue_created ON record (queue, created, id);
"""
# A record's creation time (`Job.created`) read from its JSON, 0 where none reads.
CREATED = (
    "CASE WHEN typeof(data) = 'text' AND json_valid(data)"
    " AND json_type(data, '$.job.created') IN ('integer', 'real')"
    " THEN json_extract(data, '$.job.created') ELSE 0 END"
)


def create(db: sqlite3.Connection) -> None:
    """Create what is missing, and add the columns an earlier version did not have.

    A table an earlier version did not have (`paused`, `history`) is created by SCHEMA itself.
    """
    db.executescript(SCHEMA)
    if "created" not in {row[1] for row in db.execute("PRAGMA table_info(record)")}:
        db.execute("ALTER TABLE record ADD COLUMN created REAL NOT NULL DEFAULT 0")
        db.execute(f"UPDATE record SET created = {CREATED}")  # the records kept so far
    db.executescript(LISTING)
    columns = {row[1] for row in db.execute("PRAGMA table_info(queue)")}
    if "delivery" not in columns:  # per-delivery lease tokens (fencing)
        db.execute("ALTER TABLE queue ADD COLUMN delivery INTEGER NOT NULL DEFAULT 0")
    if "cancel" not in columns:  # a cancel requested for the job a daemon runs
        db.execute("ALTER TABLE queue ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0")
