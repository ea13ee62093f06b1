"""Sending a batch's rounds one after the other while the next is made.

A large `enqueue_many` spends about as long making its script calls (encoding the
jobs, in Python) as Redis spends running them. Made and sent in turn, the two add
up; here round k is sent from a thread of its own while the caller's thread makes
round k + 1 (socket waits release the GIL), so they overlap. Rounds are still sent
one at a time and in order, and a round that fails stops the batch: the next one,
made meanwhile, is never sent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Ahead:
    """One sending thread, started on first use (again in a forked child, which has
    none), stopped by `close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0  # the process that started the pool

    def each(self, rounds: Iterator[T], send: Callable[[T], R]) -> Iterator[tuple[T, R]]:
        """Each round with what `send` answered for it, in order; `rounds` makes the next
        round while the one before is sent. An error of `send` is raised here, and no
        later round is sent."""
        pool = self._started()
        pending: tuple[T, Future[R]] | None = None
        for made in rounds:  # making this one while the one before is sent
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = made, pool.submit(send, made)
            time.sleep(0)  # the GIL to the sender now, not after a switch interval (5 ms)
        if pending is not None:
            yield pending[0], pending[1].result()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="jobrunner-send")
                self._pid = os.getpid()
            return self._pool
