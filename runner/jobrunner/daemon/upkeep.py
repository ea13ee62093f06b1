"""The daemon's periodic chores: heartbeat, lease renewal, reclaiming, expiry, orphans.

Each chore runs on its own period from the daemon's main loop; a storage
failure marks the daemon unhealthy (shown by `jobrunner status` and
`jobrunner health`) until a chore succeeds again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobrunner.config.model import Policy
from jobrunner.job import Job, Record, State, Unreadable, decode
from jobrunner.logs import event
from jobrunner.reload import publish
from jobrunner.storage import Lease, Redelivery, StorageError

if TYPE_CHECKING:
    from jobrunner.daemon.process import Daemon


class Upkeep:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.healthy = True
        beat = max(0.2, daemon.settings.lease_for / 3)
        self.chores: list[tuple[float, Callable[[], Any]]] = [
            (beat, self.beat),
            (min(5.0, beat), self.reclaim),
            (60.0, self.expire),
        ]
        self.due = [0.0] * len(self.chores)

    def tick(self) -> None:
        now = time.monotonic()
        for index, (every, chore) in enumerate(self.chores):
            if now >= self.due[index]:
                self.due[index] = now + every
                self._guard(chore)

    def _guard(self, chore: Callable[[], Any]) -> None:
        try:
            chore()
        except StorageError as exc:
            if self.healthy:
                event(logging.ERROR, "storage unreachable: retrying", error=str(exc))
            self.healthy = False
            return
        if not self.healthy:
            event(logging.INFO, "storage reachable again")
        self.healthy = True

    @property
    def storage(self) -> Any:
        return self.daemon.storage

    def beat(self) -> None:
        lease_for = self.daemon.settings.lease_for
        self.storage.extend(self.daemon.id, lease_for)
        self.storage.beat(self.daemon.id, {**self.daemon.info(), "healthy": True}, ttl=lease_for)

    def reclaim(self) -> None:
        policies = {
            name: Redelivery(
                lane.policy.max_deliveries, lane.policy.dead_letter_retain.total_seconds()
            )
            for name, lane in self.daemon.lanes.items()
        }
        for job_id in self.storage.reclaim(policies, Redelivery()):
            event(
                logging.WARNING, "lease expired: job handed back for another delivery", job=job_id
            )
        if self.daemon.pool is not None:
            self.bury_orphans()

    def expire(self) -> None:
        self.storage.expire()

    def bury_orphans(self) -> None:
        """Dead-letter the due jobs of queues the configuration in force no longer has.

        Only while this daemon runs the published generation, so a daemon left on
        an older configuration during a rollout never buries a new queue's jobs.
        """
        config = self.daemon.config
        if (self.storage.published() or {}).get("hash") != publish.content_hash(config):
            return
        for queue in self.storage.stats():
            if queue in self.daemon.lanes:
                continue
            reason = (
                f"queue '{queue}' no longer exists in the configuration "
                f"(generation {self.daemon.generation})"
            )
            for lease in self.storage.lease(queue, self.daemon.id, count=100, lease_for=60):
                self._bury(lease, reason)

    def _bury(self, lease: Lease, reason: str) -> None:
        try:
            job = decode(lease.raw)
        except Unreadable:
            job = Job(lease.job_id, lease.queue, lease.raw.decode("utf-8", errors="replace"))
        record = Record(job, State.DEAD, reason=reason, updated=time.time())
        self.storage.bury(lease, record, Policy().dead_letter_retain.total_seconds())
        event(logging.WARNING, "job dead", job=job.id, queue=lease.queue, reason=reason)
