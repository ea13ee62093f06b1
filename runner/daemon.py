"""The daemon: load the job files, connect to storage, serve the lanes, stop cleanly.

Signal handlers only set flags; the main loop acts on them. SIGTERM or SIGINT
stops taking jobs and lets running ones finish for up to `grace` seconds; what
has not finished by then is handed back to the queue for another delivery. A
second signal exits at once. A lost storage connection is retried with
backoff while the daemon keeps running and says it is unhealthy.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from jobrunner import config as config_mod
from jobrunner import engine, published
from jobrunner.attempt import Plugins
from jobrunner.job import Job, Record, State, Unreadable, decode
from jobrunner.lane import Lane, lanes
from jobrunner.logs import event
from jobrunner.model import Config, Policy
from jobrunner.registry import Registry, discover
from jobrunner.scheduler import Scheduler
from jobrunner.storage import Lease, Redelivery, Storage, StorageError, open_storage, redact
from jobrunner.worker import LaneWorker

ROLES = ("all", "scheduler", "worker")


@dataclass(frozen=True)
class Settings:
    jobs_dir: Path = Path("jobs.d")
    storage: str = "sqlite:///.jobrunner/state.db"
    role: str = "all"
    queues: tuple[str, ...] = ()  # empty: every lane
    grace: float = 30.0
    lease_for: float = 30.0


@dataclass
class _Flags:
    stops: int = 0
    reload: bool = False
    event: threading.Event = field(default_factory=threading.Event)


class Daemon:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or discover()
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.flags = _Flags()
        self.config = Config()
        self.generation = 0
        self.storage: Storage | None = None
        self.workers: dict[str, tuple[LaneWorker, engine.LaneConsumer]] = {}
        self.healthy = False
        self._lanes: dict[str, Lane] = {}
        self.scheduler: Scheduler | None = None
        self._scheduler_stop = threading.Event()
        self._scheduler_thread: threading.Thread | None = None

    # -- signals -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.flags.stops += 1
        self.flags.event.set()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.flags.reload = True
        self.flags.event.set()

    # -- lifecycle -----------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the process exit status."""
        event(
            logging.INFO,
            "daemon starting",
            daemon=self.id,
            role=self.settings.role,
            storage=redact(self.settings.storage),
            jobs=str(self.settings.jobs_dir),
        )
        if not self._load():
            return 1
        self.storage = self._connect()
        if self.storage is None:
            return 0  # stopped while waiting for the storage
        self._publish()
        if self.settings.role in ("all", "worker"):
            self._start_lanes()
        if self.settings.role in ("all", "scheduler"):
            self._start_scheduler()
        event(logging.INFO, "ready", daemon=self.id, generation=self.generation)
        self._serve()
        self._shutdown()
        return 0

    def _start_scheduler(self) -> None:
        assert self.storage is not None
        self.scheduler = Scheduler(self.storage, self.id)
        self.scheduler.apply(self.config, self.generation)
        self._scheduler_thread = threading.Thread(
            target=self.scheduler.run,
            args=(self._scheduler_stop,),
            name="jobrunner-scheduler",
            daemon=True,
        )
        self._scheduler_thread.start()
        event(logging.INFO, "scheduling cron entries", crons=len(self.config.crons))

    def _load(self) -> bool:
        loaded = config_mod.load([self.settings.jobs_dir], registry=self.registry)
        for problem in loaded.problems:
            event(
                logging.ERROR if problem.severity == "error" else logging.WARNING,
                f"{problem.file}:{problem.line}:{problem.column}: {problem.message}",
                path=problem.path,
                code=problem.code,
            )
        if loaded.failed:
            event(
                logging.ERROR,
                "files with errors are left out",
                files=", ".join(sorted(loaded.failed)),
            )
        self.config = loaded.config
        self._lanes = lanes(loaded.config)
        unknown = [q for q in self.settings.queues if q not in self._lanes]
        if unknown:
            event(
                logging.ERROR,
                f"--queues names unknown queues: {', '.join(unknown)}",
                known=", ".join(sorted(self._lanes)),
            )
            return False
        return True

    def _connect(self) -> Storage | None:
        delay = 0.5
        while not self.flags.stops:
            try:
                storage = open_storage(self.settings.storage)
                storage.stats()
                self.healthy = True
                return storage
            except StorageError as exc:
                event(
                    logging.ERROR, "storage unreachable, retrying", error=str(exc), retry_in=delay
                )
                self.flags.event.wait(delay)
                delay = min(delay * 2, 30.0)
        return None

    def _publish(self) -> None:
        assert self.storage is not None
        previous = self.storage.published() or {}
        digest = published.content_hash(self.config)
        self.generation = int(previous.get("generation", 0))
        if previous.get("hash") != digest:
            self.generation += 1
            self.storage.publish(published.document(self.config, self.generation))
        event(
            logging.INFO,
            "configuration in force",
            generation=self.generation,
            hash=digest,
            queues=len(self.config.queues),
            crons=len(self.config.crons),
        )

    def _start_lanes(self) -> None:
        assert self.storage is not None
        plugins = Plugins(self.registry)
        chosen = self.settings.queues or tuple(sorted(self._lanes))
        for name in chosen:
            lane = self._lanes[name]
            worker = LaneWorker(
                name,
                self.storage,
                self.id,
                self._lanes.get,
                plugins,
                lease_for=self.settings.lease_for,
                prefetch=lane.concurrency,
            )
            self.workers[name] = (worker, engine.start(worker, lane.concurrency))
        event(logging.INFO, "serving queues", queues=", ".join(chosen) or "none")

    def _serve(self) -> None:
        beat_every = max(0.2, self.settings.lease_for / 3)
        due = dict.fromkeys(("beat", "reclaim", "expire"), 0.0)
        while not self.flags.stops:
            now = time.monotonic()
            for task, every, action in (
                ("beat", beat_every, self._beat),
                ("reclaim", min(5.0, beat_every), self._reclaim),
                ("expire", 60.0, self._expire),
            ):
                if now >= due[task]:
                    due[task] = now + every
                    self._guard(action)
            if self.flags.reload:
                self.flags.reload = False
                event(
                    logging.INFO,
                    "reload requested: restart the daemon to apply changes "
                    "(hot reload arrives with the scheduler)",
                )
            self.flags.event.wait(0.2)
            self.flags.event.clear()

    def _guard(self, action: Callable[[], Any]) -> None:
        try:
            action()
            if not self.healthy:
                event(logging.INFO, "storage reachable again")
            self.healthy = True
        except StorageError as exc:
            if self.healthy:
                event(logging.ERROR, "storage unreachable: retrying", error=str(exc))
            self.healthy = False

    def _beat(self) -> None:
        assert self.storage is not None
        self.storage.extend(self.id, self.settings.lease_for)
        self.storage.beat(self.id, self.info(), ttl=self.settings.lease_for)

    def info(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "role": self.settings.role,
            "queues": sorted(self.workers),
            "generation": self.generation,
            "healthy": self.healthy,
            "seen": time.time(),
        }

    def _reclaim(self) -> None:
        assert self.storage is not None
        policies = {
            name: Redelivery(
                lane.policy.max_deliveries, lane.policy.dead_letter_retain.total_seconds()
            )
            for name, lane in self._lanes.items()
        }
        for job_id in self.storage.reclaim(policies, Redelivery()):
            event(
                logging.WARNING, "lease expired: job handed back for another delivery", job=job_id
            )
        if self.settings.role != "scheduler":
            self._bury_orphans()

    def _bury_orphans(self) -> None:
        """Dead-letter the due jobs of queues the configuration in force no longer has.

        Only while this daemon runs the published generation, so a daemon left on
        an older configuration during a rollout never buries a new queue's jobs.
        """
        assert self.storage is not None
        if (self.storage.published() or {}).get("hash") != published.content_hash(self.config):
            return
        for queue in self.storage.stats():
            if queue in self._lanes:
                continue
            reason = (
                f"queue '{queue}' no longer exists in the configuration "
                f"(generation {self.generation})"
            )
            for lease in self.storage.lease(queue, self.id, count=100, lease_for=60):
                self._bury(lease, reason)

    def _bury(self, lease: Lease, reason: str) -> None:
        assert self.storage is not None
        try:
            job = decode(lease.raw)
        except Unreadable:
            job = Job(lease.job_id, lease.queue, lease.raw.decode("utf-8", errors="replace"))
        record = Record(job, State.DEAD, reason=reason, updated=time.time())
        self.storage.bury(lease, record, Policy().dead_letter_retain.total_seconds())
        event(logging.WARNING, "job dead", job=job.id, queue=lease.queue, reason=reason)

    def _expire(self) -> None:
        assert self.storage is not None
        self.storage.expire()

    def _shutdown(self) -> None:
        grace = self.settings.grace
        event(logging.INFO, "stopping: running jobs may finish", grace=grace)
        self._scheduler_stop.set()
        if self.scheduler is not None:
            self.scheduler.wakeup.set()
        for worker, consumer in self.workers.values():
            worker.stopping.set()
            consumer.stop_flag.set()
        if self.storage is not None:
            self.storage.wake()
        deadline = time.monotonic() + grace
        threads = [t for _, c in self.workers.values() for t in c.threads()]
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            if self.flags.stops > 1:
                event(logging.WARNING, "second signal: exiting now")
                self._hand_back(sum(t.is_alive() for t in threads))
                os._exit(1)
            threads[0].join(0.05) if threads[0].is_alive() else threads.pop(0)
        self._hand_back(sum(t.is_alive() for t in threads))

    def _hand_back(self, unfinished: int) -> None:
        if self.storage is None:
            return
        try:
            released = self.storage.release(self.id)
            self.storage.leave(self.id)
        except StorageError as exc:
            event(
                logging.ERROR, "could not hand jobs back; their leases will expire", error=str(exc)
            )
            return
        event(logging.INFO, "stopped", unfinished=unfinished, handed_back=released)
