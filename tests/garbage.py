"""Writing bytes that are not jobs straight into a backend, as a stray writer would."""

from __future__ import annotations

import sqlite3

import redis

from jobrunner.storage.redis.store import prefix


def inject_garbage(url: str, queue: str, raw: bytes) -> None:
    """Put `raw` into `queue` of the storage at `url`, bypassing the storage's own checks."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1])
        db.execute(
            "INSERT INTO queue (id, queue, priority, run_at, body) VALUES (?, ?, 2, 0, ?)",
            ("garbage-1", queue, raw),
        )
        db.commit()
        db.close()
    else:
        client = redis.Redis.from_url(url)
        try:
            client.zadd(prefix(queue) + "ready", {raw: 0})
        finally:
            client.close()
