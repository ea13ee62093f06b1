"""Huey as the execution engine: one Huey consumer per daemon process, serving every lane.

Huey gives us its consumer (worker threads at the lane's concurrency, health
checks that restart a dead worker), its task registry and its execute
pipeline (pre/post-execute hooks and signals). What it lacks for this
project is added through its extension points, never by patching it
(docs/architecture.md names them):

- `dequeue` is overridden to take a job *leased* from our storage (by the
  feeder, feed.py, for every lane at once) instead of removing one, and hands
  Huey a task of one stable dispatcher function (registered once; our own lanes
  decide which handler runs); the consumer's worker threads are shared by every
  lane, each lane's concurrency bounding how many of them run its jobs;
- Huey's `execute` is the acknowledgement point: the dispatcher task settles
  each job (ack, retry or bury) before `execute` returns;
- Huey's own storage seat is a no-op (`_Seat`): messages, delays, retries and
  results live in our storage, so Huey's pickle never sees a message, its
  scheduler has nothing to move, and its retries stay off (retries=0).
- the consumer's signal handlers are disabled: the daemon owns signals.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from huey import Huey
from huey.api import Task
from huey.consumer import Consumer
from huey.serializer import Serializer
from huey.storage import BlackHoleStorage

from jobrunner.storage import Lease
from jobrunner.worker.feed import Feeder
from jobrunner.worker.serve import Runner


class JsonSerializer(Serializer):  # type: ignore[misc]
    """Huey's serializer seat: JSON only, never pickle."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(data).encode()

    def _deserialize(self, data: bytes) -> Any:
        return json.loads(data)


class _Seat(BlackHoleStorage):  # type: ignore[misc]
    """Huey's storage slot, left empty: every job lives in jobrunner's storage.

    Huey's own black hole, except that a job handed to it is refused loudly
    rather than dropped: nothing may enqueue or delay a job through Huey.
    """

    blocking = True  # our dequeue waits for work itself; Huey's workers must not sleep

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        raise NotImplementedError("jobs are enqueued through jobrunner's storage")

    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        raise NotImplementedError("delays and retries are kept in jobrunner's storage")


class EngineHuey(Huey):  # type: ignore[misc]
    """A Huey instance whose queue is every lane the feeder leases for."""

    def __init__(self, feeder: Feeder, runner: Runner) -> None:
        super().__init__(
            name="jobrunner", results=False, serializer=JsonSerializer(), storage_class=_Seat
        )
        self.feeder, self.runner = feeder, runner
        self.retired = threading.Event()  # set when a consumer of another size replaces it
        self._dispatch = self.task(name="jobrunner.dispatch", retries=0)(self._run)

    def dequeue(self) -> Task | None:
        taken = self.feeder.take(self.retired)
        if taken is None:
            return None
        # The task's id is the lease's token, unique per delivery: `s()` would make a uuid4.
        return self._dispatch.task_class((taken,), None, id=taken[1].token)

    def is_revoked(self, task: Any, timestamp: Any = None, peek: bool = True) -> bool:
        """Never: a job is cancelled in jobrunner's storage (`Storage.cancel`), and Huey's
        revocation keys would be looked up in `_Seat`, which holds none (a few percent of
        the daemon's CPU at thousands of jobs a second, for an answer that is always no)."""
        return False

    def _run(self, taken: tuple[str, Lease, float | None]) -> None:
        name, lease, asked = taken
        started = time.monotonic()
        try:
            self.runner.dispatch(lease, asked)
        finally:
            self.feeder.finished(name, time.monotonic() - started)


class EngineConsumer(Consumer):  # type: ignore[misc]
    """Huey's thread consumer without signal handlers: the daemon owns signals."""

    def _set_signal_handlers(self) -> None:
        pass

    def threads(self) -> list[threading.Thread]:
        return [thread for _, thread in self.worker_threads]


def start(feeder: Feeder, runner: Runner, threads: int) -> EngineConsumer:
    """Start `threads` worker threads taking jobs from `feeder`, run by `runner`."""
    huey = EngineHuey(feeder, runner)
    consumer = EngineConsumer(
        huey,
        workers=threads,
        periodic=False,
        worker_type="thread",
        initial_delay=0.05,
        max_delay=0.5,
        backoff=2,
        scheduler_interval=60,
    )
    consumer.start()
    return consumer
