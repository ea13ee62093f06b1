"""The lanes a daemon process serves, on one shared set of worker threads.

The pool does not diff configurations: reload/plan.py names the lanes to stop
and start, and the pool does exactly that. Workers look the lane up per job
(`lookup`), so a change of handler, params or policy applies without a restart.

Every lane shares one Huey consumer (engine.py) fed by one fetcher (feed.py), and
finished jobs are acknowledged in batches (acks.py), so a daemon's threads and
storage connections do not grow with its lanes: the consumer has as many worker
threads as the lanes' concurrencies add up to, at most `threads`, and never fewer
than the largest concurrency of one lane (so each lane alone can run at its
concurrency). A reload that changes that number replaces the consumer: the old
one's threads finish the job they run, then stop.

The daemon tells the pool which queues are paused (`hold`): a job leased before a
pause does not start. On the same half-second round the pool reads, in one storage
call for every job it holds, which of them an operator cancelled, and stops them
(`look_for_cancels`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

from jobrunner.alerts.event import Event
from jobrunner.logs import event
from jobrunner.storage import Lease, Storage
from jobrunner.worker import engine
from jobrunner.worker.acks import Acker
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.feed import Feeder
from jobrunner.worker.lane import Lane
from jobrunner.worker.serve import Runner, SetupProblem

THREADS = 128  # worker threads of one process at most, unless one lane's concurrency is more


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
        threads: int = THREADS,
    ) -> None:
        self.storage, self.max_threads = storage, threads
        self.stopping = threading.Event()
        self.acker = Acker(storage, self.stopping)
        self.feeder = Feeder(storage, owner, lease_for, self._give_back)
        self.runner = Runner(
            storage,
            owner,
            lookup,
            plugins,
            acker=self.acker,
            stopping=self.stopping,
            serves=lambda name: name in self.serving,
            origin=origin,
            alert=alert,
        )
        self.serving: dict[str, int] = {}  # lane -> its concurrency
        self.consumer: engine.EngineConsumer | None = None
        self.retired: list[engine.EngineConsumer] = []  # replaced; their jobs may still run
        self.paused: set[str] = set()  # lanes served whose queue is paused, as last read

    def apply(self, stop: Iterable[str], start: Iterable[Lane]) -> None:
        """Stop the lanes named in `stop` that it serves, then start each lane of `start`."""
        for name in stop:
            if self.serving.pop(name, None) is not None:
                self._give_back(name, self.feeder.drop(name))
        for lane in start:
            if lane.name not in self.serving:
                self.serving[lane.name] = lane.concurrency
                self.feeder.serve(lane.name, lane.concurrency)
        self._size()

    def threads_wanted(self) -> int:
        """Worker threads for the lanes served: see the module's docstring."""
        if not self.serving:
            return 0
        total, widest = sum(self.serving.values()), max(self.serving.values())
        return max(widest, min(total, self.max_threads))

    def _size(self) -> None:
        """Start, or replace, the consumer so it has as many threads as the lanes want."""
        wanted = self.threads_wanted()
        size = len(self.consumer.worker_threads) if self.consumer is not None else 0
        if wanted == size or self.stopping.is_set():
            return
        if self.consumer is not None:
            self._retire(self.consumer)
        self.consumer = engine.start(self.feeder, self.runner, wanted) if wanted else None

    def _retire(self, consumer: engine.EngineConsumer) -> None:
        consumer.huey.retired.set()
        consumer.stop_flag.set()
        self.feeder.nudge()  # its idle threads leave now
        self.retired = [c for c in self.retired if any(t.is_alive() for t in c.threads())]
        self.retired.append(consumer)

    def _give_back(self, name: str, leases: list[Lease]) -> None:
        if leases:
            self.runner.give_back(leases)
            event(logging.DEBUG, "leased jobs put back", queue=name, jobs=len(leases))

    def hold(self, paused: Set[str], read_at: float) -> None:
        """Tell each lane served whether its queue is paused, as a read of the storage begun
        at `read_at` (`time.monotonic()`) found; log each pause and resume noticed."""
        for name in self.serving:
            self.runner.hold(name, name in paused, read_at)
        now = paused & self.serving.keys()
        for name in sorted(now - self.paused):
            event(logging.INFO, "queue paused: its jobs wait until it is resumed", queue=name)
        for name in sorted((self.paused - now) & self.serving.keys()):
            event(logging.INFO, "queue resumed", queue=name)
        self.paused = set(now)
        self.look_for_cancels()

    def held(self) -> list[Lease]:
        """The leases this process holds: leased and not started, and running."""
        return self.feeder.held() + self.runner.running()

    def holding(self) -> list[Lease]:
        """Every lease this process holds: leased and not started, running, being settled
        (the heartbeat renews these, and only these)."""
        return self.held() + self.acker.leases()

    def look_for_cancels(self) -> None:
        """Read which held jobs were cancelled (one read for all; none when none is held)
        and stop them."""
        leases = self.held()
        if not leases:
            return
        wanted = self.storage.cancel_requested(leases)
        if wanted:
            self.runner.cancel(wanted, leases)

    def stop_all(self) -> None:
        """Stop taking jobs; those leased and not started go back at once, running ones
        finish (`threads` says which threads still run one)."""
        self.stopping.set()
        for name, leases in self.feeder.close().items():
            self._give_back(name, leases)
        for consumer in [self.consumer, *self.retired]:
            if consumer is not None:
                consumer.huey.retired.set()
                consumer.stop_flag.set()
        if self.consumer is not None:
            self.retired.append(self.consumer)
            self.consumer = None
        self.serving.clear()

    def threads(self) -> list[threading.Thread]:
        return [t for consumer in self.retired for t in consumer.threads()]

    def settle_finished(self, timeout: float) -> None:
        """Store the acknowledgements still waiting to be sent (before leases are released)."""
        self.acker.close(timeout)

    def hand_back_running(self, why: str) -> int:
        """Give back every job still running in a stopped pool, each with an attempt saying why."""
        return self.runner.hand_back_running(why)

    def setup_problems(self) -> dict[str, SetupProblem]:
        """The lanes served whose handler could not be set up at their last attempt."""
        return {
            name: problem
            for name, problem in self.runner.setup_problems.items()
            if name in self.serving
        }

    def names(self) -> list[str]:
        return sorted(self.serving)

    def served(self) -> dict[str, int]:
        """Each lane served now, with the concurrency it is served at."""
        return dict(self.serving)
