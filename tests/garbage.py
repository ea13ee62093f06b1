"""Writing bytes that are not jobs straight into a backend, as a stray writer would."""

from __future__ import annotations

import sqlite3

from jobrunner.storage.redis.connect import connect
from jobrunner.storage.redis.keys import prefix


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
        client = connect(url)[0]
        try:
            client.zadd(prefix(queue) + "ready", {raw: 0})
        finally:
            client.close()


def corrupt_record(url: str, queue: str, job_id: str, data: bytes, deliveries: bytes) -> None:
    """Overwrite a stored job's record and its delivery count with bytes that are neither."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1])
        db.execute("UPDATE record SET data = ? WHERE id = ?", (data, job_id))
        db.execute("UPDATE queue SET deliveries = ? WHERE id = ?", (deliveries, job_id))
        db.commit()
        db.close()
    else:
        client = connect(url)[0]
        try:
            client.hset(prefix(queue) + "job:" + job_id, mapping={"rec": data, "dlv": deliveries})
        finally:
            client.close()


def overwrite_value(url: str, key: str, raw: bytes) -> None:
    """Put `raw` where the storage keeps a shared value (`config`, or a value's key)."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1])
        name = "config" if key == "config" else f"value:{key}"
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, raw))
        db.commit()
        db.close()
    else:
        client = connect(url)[0]
        try:
            client.set("jr:config" if key == "config" else f"jr:value:{key}", raw)
        finally:
            client.close()


def replace_key(url: str, key: bytes | str, kind: str, raw: bytes, score: float = 0.0) -> None:
    """Replace a Redis key by one of type `kind` (string, list, set, zset, hash, stream)
    holding `raw`, in one step, as a stray writer would."""
    client = connect(url)[0]
    try:
        pipe = client.pipeline(transaction=True)
        pipe.delete(key)
        if kind == "string":
            pipe.set(key, raw)
        elif kind == "list":
            pipe.rpush(key, raw)
        elif kind == "set":
            pipe.sadd(key, raw)
        elif kind == "zset":
            pipe.zadd(key, {raw: score})
        elif kind == "hash":
            pipe.hset(key, raw or b"field", raw)
        elif kind == "stream":
            pipe.xadd(key, {b"field": raw})
        else:
            raise ValueError(kind)
        pipe.execute()
    finally:
        client.close()


def set_cell(url: str, sql: str, args: tuple[object, ...]) -> bool:
    """Run one UPDATE or INSERT on the SQLite file at `url`; False when SQLite refuses it
    (a NOT NULL or UNIQUE column): what a stray writer could not have written either."""
    db = sqlite3.connect(url.split("///", 1)[1], timeout=30)
    try:
        db.execute(sql, args)
        db.commit()
        return True
    except sqlite3.IntegrityError:
        return False
    finally:
        db.close()


def write_pause(url: str, queue: str, raw: bytes, kind: str = "string") -> None:
    """Put `raw` where the storage keeps the pause of `queue` (on Redis, in a key of type
    `kind`), bypassing the storage's own writer."""
    if url.startswith("sqlite"):
        set_cell(url, "INSERT OR REPLACE INTO paused VALUES (?, ?)", (queue, raw))
    else:
        replace_key(url, prefix(queue) + "paused", kind, raw)
