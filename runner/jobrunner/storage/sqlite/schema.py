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
    expires REAL
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
"""


def create(db: sqlite3.Connection) -> None:
    """Create what is missing, and add the columns an earlier version did not have.

    A table an earlier version did not have (`paused`) is created by SCHEMA itself.
    """
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(queue)")}
    if "delivery" not in columns:  # per-delivery lease tokens (fencing)
        db.execute("ALTER TABLE queue ADD COLUMN delivery INTEGER NOT NULL DEFAULT 0")
    if "cancel" not in columns:  # a cancel requested for the job a daemon runs
        db.execute("ALTER TABLE queue ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0")
