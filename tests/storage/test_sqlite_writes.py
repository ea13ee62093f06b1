"""SQLite's write path kept short: the WAL is checkpointed by a thread of its own, not in a
producer's or worker's commit, and a writer waits for another process's lock in short
sleeps first."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from daemon_proc import wait_until

from jobrunner.job import Job, new_id
from jobrunner.storage import StorageError
from jobrunner.storage.sqlite.checkpoint import AUTOCHECKPOINT_PAGES, IDLE_EVERY, WAL_BYTES
from jobrunner.storage.sqlite.store import SqliteStorage


def test_the_wal_is_copied_into_the_database_by_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStorage(path)
    [pages] = store._db.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert pages == AUTOCHECKPOINT_PAGES  # the commits' own checkpoint: a backstop only
    empty = path.stat().st_size
    payload = {"text": "x" * 2000}
    for _ in range(10):  # about 2.5 MB of WAL, far below the backstop's 8000 pages
        batch = [Job(new_id(), "q", payload, created=time.time()) for _ in range(100)]
        store.enqueue_many(batch)
    assert Path(f"{path}-wal").stat().st_size > WAL_BYTES
    wait_until(lambda: path.stat().st_size > empty + WAL_BYTES, what="a checkpoint")
    thread = store._checkpoints
    store.close()
    assert not thread.is_alive()


def test_a_wal_written_after_a_quiet_while_is_still_checkpointed(tmp_path: Path) -> None:
    """While the WAL does not change the thread looks less often, up to IDLE_EVERY apart:
    writes that come after a quiet while are checkpointed within about that long."""
    path = tmp_path / "state.db"
    store = SqliteStorage(path)
    store.enqueue(Job(new_id(), "q", {}, created=time.time()))  # the thread starts
    time.sleep(4 * IDLE_EVERY)  # quiet: its looks have spaced out as far as they go
    empty = path.stat().st_size
    payload = {"text": "x" * 2000}
    for _ in range(10):
        store.enqueue_many([Job(new_id(), "q", payload, created=time.time()) for _ in range(100)])
    start = time.monotonic()
    wait_until(lambda: path.stat().st_size > empty + WAL_BYTES, what="a checkpoint", timeout=10)
    assert time.monotonic() - start < 2 * IDLE_EVERY + 1.0
    store.close()


def hold_lock(path: Path, seconds: float) -> threading.Event:
    """Another process's writer (another connection) holds the write lock for `seconds`."""
    taken = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        db.execute("ROLLBACK")
        db.close()

    threading.Thread(target=hold, daemon=True).start()
    taken.wait(5)
    return taken


@pytest.mark.parametrize("held", [0.002, 0.05])  # within the short sleeps, and past them
def test_a_writer_waits_for_a_lock_held_briefly_elsewhere(tmp_path: Path, held: float) -> None:
    store = SqliteStorage(tmp_path / "state.db")
    hold_lock(tmp_path / "state.db", held)
    one = Job(new_id(), "q", {}, created=time.time())
    assert store.enqueue(one) == one.id
    [busy] = store._db.execute("PRAGMA busy_timeout").fetchone()
    assert busy == 30_000  # SQLite's own wait is back for every other statement
    store.close()


def test_a_lock_held_past_the_busy_timeout_is_a_storage_error(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "state.db", busy_timeout=0.1)
    hold_lock(tmp_path / "state.db", 1.0)
    with pytest.raises(StorageError, match="database is locked"):
        store.enqueue(Job(new_id(), "q", {}, created=time.time()))
    store.close()
