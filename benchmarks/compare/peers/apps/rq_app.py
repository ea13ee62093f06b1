"""RQ's side: `rq worker bench` runs `rq_app.noop` jobs."""

from __future__ import annotations

import os

import tally
from redis import Redis
from rq import Queue

_queue: Queue | None = None


def noop() -> None:
    tally.done()


def enqueue() -> None:
    global _queue
    if _queue is None:
        _queue = Queue("bench", connection=Redis.from_url(os.environ["BENCH_URL"]))
    _queue.enqueue(noop)
