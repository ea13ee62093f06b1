"""The lanes a daemon serves, each a Huey consumer, stopped and started as a plan says.

The pool does not diff configurations: reload/plan.py names the lanes to stop
and start, and the pool does exactly that. Workers look the lane up per job
(`lookup`), so a change of handler, params or policy applies without a restart;
only a new concurrency restarts a lane. The daemon tells the pool which queues
are paused (`hold`), and each lane's worker keeps what it leased before a pause
from starting. On the same half-second round the pool reads, in one storage call
for every job it holds, which of them an operator cancelled, and has their lanes
stop them (`look_for_cancels`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

from jobrunner.alerts.event import Event
from jobrunner.logs import event
from jobrunner.storage import Storage
from jobrunner.worker import engine
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.lane import Lane
from jobrunner.worker.serve import LaneWorker, SetupProblem


class Pool:
    def __init__(
        self,
        storage: Storage,
        owner: str,
        lookup: Callable[[str], Lane | None],
        plugins: Plugins,
        lease_for: float,
        origin: Callable[[], Mapping[str, Any]] = dict,
        alert: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.storage, self.owner, self.lookup, self.origin = storage, owner, lookup, origin
        self.alert = alert  # told of each job a lane buries (alerts/deliver.py)
        self.plugins, self.lease_for = plugins, lease_for
        self.serving: dict[str, tuple[LaneWorker, engine.LaneConsumer, int]] = {}
        # stopping; their jobs may still run
        self.retired: list[tuple[LaneWorker, engine.LaneConsumer]] = []
        self.paused: set[str] = set()  # lanes served whose queue is paused, as last read

    def apply(self, stop: Iterable[str], start: Iterable[Lane]) -> None:
        """Stop the lanes named in `stop` that it serves, then start each lane of `start`."""
        for name in stop:
            if name in self.serving:
                self._stop(name)
        for lane in start:
            if lane.name not in self.serving:
                self._start(lane)

    def _start(self, lane: Lane) -> None:
        worker = LaneWorker(
            lane.name,
            self.storage,
            self.owner,
            self.lookup,
            self.plugins,
            lease_for=self.lease_for,
            prefetch=lane.concurrency,
            origin=self.origin,
            alert=self.alert,
        )
        self.serving[lane.name] = (worker, engine.start(worker, lane.concurrency), lane.concurrency)

    def _stop(self, name: str) -> None:
        """Stop taking jobs in lane `name`; the jobs it runs finish in the background."""
        worker, consumer, _ = self.serving.pop(name)
        worker.stopping.set()
        consumer.stop_flag.set()
        self.storage.wake()
        worker.give_back()
        self.retired = [(w, c) for w, c in self.retired if any(t.is_alive() for t in c.threads())]
        self.retired.append((worker, consumer))

    def hold(self, paused: Set[str], read_at: float) -> None:
        """Tell each lane served whether its queue is paused, as a read of the storage begun
        at `read_at` (`time.monotonic()`) found; log each pause and resume noticed."""
        for name, (worker, _, _) in self.serving.items():
            worker.hold(name in paused, read_at)
        now = paused & self.serving.keys()
        for name in sorted(now - self.paused):
            event(logging.INFO, "queue paused: its jobs wait until it is resumed", queue=name)
        for name in sorted((self.paused - now) & self.serving.keys()):
            event(logging.INFO, "queue resumed", queue=name)
        self.paused = set(now)
        self.look_for_cancels()

    def look_for_cancels(self) -> None:
        """Read which held jobs were cancelled (one read for all; none when none is held)
        and tell their lanes, serving or stopping."""
        workers = [w for w, _, _ in self.serving.values()] + [w for w, _ in self.retired]
        leases = [lease for worker in workers for lease in worker.held()]
        if not leases:
            return
        wanted = self.storage.cancel_requested(leases)
        if wanted:
            for worker in workers:
                worker.cancel(wanted)

    def stop_all(self) -> None:
        for name in list(self.serving):
            self._stop(name)

    def threads(self) -> list[threading.Thread]:
        return [t for _, consumer in self.retired for t in consumer.threads()]

    def hand_back_running(self, why: str) -> int:
        """Give back every job still running in a stopped lane, each with an attempt saying why."""
        return sum(worker.hand_back_running(why) for worker, _ in self.retired)

    def setup_problems(self) -> dict[str, SetupProblem]:
        """The lanes served whose handler could not be set up at their last attempt."""
        return {
            name: worker.setup_problem
            for name, (worker, _, _) in self.serving.items()
            if worker.setup_problem is not None
        }

    def names(self) -> list[str]:
        return sorted(self.serving)

    def served(self) -> dict[str, int]:
        """Each lane served now, with the concurrency it is served at."""
        return {name: concurrency for name, (_, _, concurrency) in self.serving.items()}
