"""Checkpointing the write-ahead log off the write path.

By default SQLite checkpoints inside the commit that grows the WAL past 1,000 pages:
that commit copies the pages into the database file and fsyncs it, and the producer or
worker whose commit it was waits for it, 5 to 50 ms, while holding the write lock that
every other writer waits for. Measured on an otherwise idle database, that alone made
a single enqueue's p99 6 ms instead of 0.9 ms.

So each storage raises that to a backstop (AUTOCHECKPOINT_PAGES, for when the thread
falls behind) and runs one thread that, every EVERY seconds, checkpoints PASSIVE on a
connection of its own once the WAL file is larger than WAL_BYTES and was written since
its last checkpoint: it copies what no reader still needs, never waits for a writer or
blocks one, and the next writer starts the WAL over from the beginning. Commits then
never fsync (synchronous=NORMAL). While the WAL does not change, the looks space out to
IDLE_EVERY (an idle daemon's thread woke 5 times a second for nothing); a change brings
them back to EVERY at the next look.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

EVERY = 0.2  # seconds between looks at the WAL's size while it is written to
IDLE_EVERY = 1.6  # at most this long between looks once it stopped changing (doubling)
WAL_BYTES = 1024 * 1024  # a WAL larger than this is checkpointed by the thread
AUTOCHECKPOINT_PAGES = 8000  # the commits' own checkpoint, should the thread fall behind


class Checkpoints:
    """The thread that keeps the WAL of one database short (one per storage, from its
    first write until `closed` is set)."""

    def __init__(
        self, path: Path, connect: Callable[[], sqlite3.Connection], closed: threading.Event
    ) -> None:
        self.wal = Path(f"{path}-wal")
        self.connect, self.closed = connect, closed

    def run(self) -> None:
        db: sqlite3.Connection | None = None
        done = None  # the WAL's size and time when last checkpointed
        last, every = None, EVERY  # the WAL's size and time at the last look
        try:
            while not self.closed.wait(every):
                seen = self._seen()
                # An idle daemon's WAL changes with its heartbeat alone: look less often.
                every = EVERY if seen != last else min(every * 2, IDLE_EVERY)
                last = seen
                if seen is None or seen == done or seen[0] <= WAL_BYTES:
                    continue  # short, or nothing written since the last checkpoint
                db = db or self.connect()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # locked or busy now: the next look tries again
                done = seen
        finally:
            if db is not None:
                db.close()

    def _seen(self) -> tuple[int, int] | None:
        try:
            stat = self.wal.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns
