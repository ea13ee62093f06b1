"""What an idle daemon's chores cost on SQLite, however many queues there are.

Any commit (another process's heartbeat, say) wakes the workers' listener, which then
asks which queues have a job waiting; with nothing waiting anywhere that is one query,
not one per queue. And a reclaim that found no expired lease wakes nobody.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobrunner.job import Job, new_id
from jobrunner.storage.base import Redelivery
from jobrunner.storage.sqlite.store import SqliteStorage

QUEUES = [f"q{n}" for n in range(300)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStorage]:
    storage = SqliteStorage(tmp_path / "state.db")
    yield storage
    storage.close()


def queries(store: SqliteStorage) -> list[str]:
    """The statements the storage's connection runs from now on (a list that grows)."""
    ran: list[str] = []
    store._db.set_trace_callback(ran.append)
    return ran


def test_after_a_commit_idle_queues_are_looked_at_with_one_query(store: SqliteStorage) -> None:
    since = store.moment()
    store.wake()  # what a commit of another process does
    ran = queries(store)
    assert store.woken(since, QUEUES, timeout=1.0)[1] == set()
    assert len(ran) == 1, ran
    store.enqueue(Job(new_id(), "q7", {"n": 1}, created=time.time()))
    assert store.woken(since, QUEUES, timeout=1.0)[1] == {"q7"}  # then each queue is asked


def test_a_reclaim_that_moves_nothing_wakes_no_worker(store: SqliteStorage) -> None:
    since = store.moment()
    assert store.reclaim({}, Redelivery()) == []
    assert store.moment() == since
    store.enqueue(Job(new_id(), "q1", {"n": 1}, created=time.time()))
    [lease] = store.lease("q1", "gone-daemon", count=1, lease_for=0.05)
    time.sleep(0.1)
    since = store.moment()
    assert [lost.job_id for lost in store.reclaim({}, Redelivery())] == [lease.job_id]
    assert store.moment() != since  # the job handed back wakes the workers


def test_closing_ends_the_commit_watcher_without_waiting_out_its_wait(tmp_path: Path) -> None:
    """With its inotify watch in place the watcher looks at `data_version` every
    WATCHED_SECONDS (2 s); close ends that wait at once, not a second later (its join's
    limit) with the thread still waiting."""
    storage = SqliteStorage(tmp_path / "state.db")
    storage.enqueue(Job(new_id(), "q1", {"n": 1}, created=time.time()))  # the WAL file exists
    storage.moment()  # the watcher starts
    watcher = storage._watcher
    assert watcher is not None
    time.sleep(0.3)  # in its wait
    storage.close()
    assert not watcher.is_alive()
