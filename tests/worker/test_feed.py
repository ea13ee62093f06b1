"""The feeder (worker/feed.py): a lane is leased for again as soon as it has room, on its
own rounds, without waiting for a signal or the resync."""

from __future__ import annotations

import threading
import time

from jobrunner.job import Job, new_id
from jobrunner.storage import Storage, open_storage
from jobrunner.worker import feed
from jobrunner.worker.feed import Feeder

JOBS = 300


def test_a_lane_whose_jobs_turn_out_quick_is_leased_for_at_once(url: str, store: Storage) -> None:
    """Stored before the feeder starts, the jobs send it no signal: only its own rounds lease
    them. Once the lane's jobs prove quick it may hold more; its room then grows by more than
    one a finished job, and the fetcher must still be woken (it once waited for the resync)."""
    for _ in range(JOBS):
        store.enqueue(Job(new_id(), "work", {}))
    own = open_storage(url)  # a storage of its own, opened after: no wake signal of theirs
    feeder = Feeder(own, "test-owner", 30.0, give_back=lambda name, leases: None)
    retired = threading.Event()
    start = time.monotonic()
    feeder.serve("work", 4)
    try:
        for _ in range(JOBS):
            taken = feeder.take(retired)
            assert taken is not None
            assert time.monotonic() - start < feed.RESYNC, "a round waited for the resync"
            feeder.finished(taken[0], 0.001)
    finally:
        feeder.close()
        own.close()
