"""The daemon's periodic chores: heartbeat, lease renewal, reclaiming, expiry, orphans,
reading which queues are paused, and the looks for alerts (alerts/survey.py).

Each chore runs on its own period from the daemon's main loop; a storage
failure marks the daemon unhealthy (shown by `jobrunner status` and
`jobrunner health`) until a chore succeeds again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Set
from typing import Any

from jobrunner import metrics
from jobrunner.alerts import event as alerts
from jobrunner.alerts.deliver import Alerter
from jobrunner.alerts.survey import Survey
from jobrunner.config.alerts import JOB_DEAD
from jobrunner.job import DEAD_LETTER_RETAIN, Job, Record, State, Unreadable, decode
from jobrunner.logs import event
from jobrunner.reload.in_force import InForce
from jobrunner.storage import Lease, Redelivery, Storage, StorageError, records

PAUSES_EVERY = 0.5  # seconds between reads of the paused queues: a pause holds within a second
PAUSES_IDLE_EVERY = 5.0  # the same while the daemon holds no job (only the log line waits)
DAEMONS_EVERY = 5.0  # seconds between looks for lost daemons (at most a heartbeat period)
BACKLOG_EVERY = 15.0  # seconds between looks at the queues' oldest ready jobs


class Upkeep:
    def __init__(
        self,
        storage: Storage,
        owner: str,
        lease_for: float,
        in_force: InForce,
        info: Callable[[], Mapping[str, Any]],
        *,
        buries_orphans: bool,
        hold: Callable[[Set[str], float], None] | None = None,
        holding: Callable[[], Collection[Lease]] = list,
        alert: Alerter | None = None,
        shared: bool = True,
    ) -> None:
        """`info`: what the heartbeat says of the daemon; `buries_orphans`: it runs workers;
        `hold`: told the paused queues and when their read began (the pool's `hold`);
        `holding`: the leases the pool holds (leased, running or being settled);
        `alert`: told of jobs dead-lettered here, and of what the alert looks find;
        `shared`: it does the chores one daemon does for all (reclaim expired leases,
        expire old records, the alert looks), which a daemon's worker processes leave to it."""
        self.storage, self.owner, self.lease_for = storage, owner, lease_for
        self.in_force, self.info, self.buries_orphans = in_force, info, buries_orphans
        self.hold, self.holding, self.alert = hold, holding, alert
        self._pauses_read = -PAUSES_IDLE_EVERY  # when the paused queues were last read
        self._policies: tuple[object, Mapping[str, Redelivery]] = (None, {})  # _redelivery
        self.survey = Survey(storage, alert, owner) if alert is not None else None
        self.healthy = True
        self.unhealthy_since: float | None = None  # epoch seconds the storage went away
        self._failing: dict[str, str] = {}  # chore -> its last unexpected failure
        beat = max(0.2, lease_for / 3)
        self.chores: list[tuple[float, Callable[[], Any]]] = [(beat, self.beat)]
        if shared:
            self.chores += [(min(5.0, beat), self.reclaim), (60.0, self.expire)]
        if hold is not None:
            self.chores.append((PAUSES_EVERY, self.pauses))
        if self.survey is not None and shared:
            self.chores.append((min(DAEMONS_EVERY, beat), self.survey.daemons))
            self.chores.append((BACKLOG_EVERY, self.survey.backlog))
        self.due = [0.0] * len(self.chores)

    def tick(self) -> None:
        now = time.monotonic()
        for index, (every, chore) in enumerate(self.chores):
            if now >= self.due[index]:
                self.due[index] = now + every
                self._guard(chore)

    def next_due(self) -> float:
        """When the next chore is due (`time.monotonic()`): the main loop sleeps until then."""
        return min(self.due)

    def _guard(self, chore: Callable[[], Any]) -> None:
        """Run `chore`; a StorageError makes the daemon unhealthy, and a chore that reached
        the storage makes it healthy again. One that returns False did not try (nothing to
        do), so it proves nothing either way."""
        try:
            tried = chore()
        except StorageError as exc:
            metrics.STORAGE_ERRORS.inc()
            if self.healthy:
                event(logging.ERROR, "storage unreachable: retrying", error=str(exc))
                self.unhealthy_since = time.time()
            self.healthy = False
            return
        except Exception as exc:  # data no reader expected: never a reason to stop the daemon
            name = getattr(chore, "__name__", "chore")
            text = f"{type(exc).__name__}: {exc}"
            if self._failing.get(name) != text:  # once per distinct failure, not every beat
                event(logging.ERROR, f"{name} failed, will try again", error=text)
            self._failing[name] = text
            return
        self._failing.pop(getattr(chore, "__name__", "chore"), None)
        if tried is False:
            return
        if not self.healthy:
            event(logging.INFO, "storage reachable again")
        self.healthy, self.unhealthy_since = True, None

    def beat(self) -> None:
        held = self.holding()
        if held:  # only what it knows it holds: a thousand idle queues cost nothing
            self.storage.extend(self.owner, self.lease_for, held)
        self.storage.beat(self.owner, {**self.info(), "healthy": True}, ttl=self.lease_for)

    def reclaim(self) -> None:
        for lost in self.storage.reclaim(self._redelivery(), Redelivery()):
            metrics.jobs(lost.queue, "dead" if lost.buried else "lost").inc()
            what = "dead-lettered past max_deliveries" if lost.buried else "handed back"
            event(
                logging.WARNING,
                f"lease expired: job {what}",
                job=lost.job_id,
                queue=lost.queue,
            )
            if lost.buried:
                self._dead(lost.job_id, alerts.MAX_DELIVERIES)
        if self.buries_orphans:
            self.bury_orphans()

    def _redelivery(self) -> Mapping[str, Redelivery]:
        """Each lane's redelivery policy, made again only when the lanes change (a reload):
        a thousand lanes are not a thousand objects every few seconds."""
        lanes = self.in_force.lanes
        if self._policies[0] is not lanes:
            policies = {
                name: Redelivery(
                    lane.policy.max_deliveries, lane.policy.dead_letter_retain.total_seconds()
                )
                for name, lane in lanes.items()
            }
            self._policies = (lanes, policies)
        return self._policies[1]

    def expire(self) -> None:
        self.storage.expire()

    def pauses(self) -> bool:
        """Tell the workers which queues are paused. A lease refuses a paused queue's jobs
        anyway; this keeps the jobs leased before the pause from starting. The pool's
        `hold` then reads the cancel requests for the jobs it holds (one read for all)."""
        assert self.hold is not None
        read_at = time.monotonic()
        if not self.holding() and read_at - self._pauses_read < PAUSES_IDLE_EVERY:
            return False  # holding nothing, nothing to keep from starting: a slower look will do
        self._pauses_read = read_at
        self.hold(set(self.storage.paused()), read_at)
        return True

    def bury_orphans(self) -> None:
        """Dead-letter the due jobs of queues the configuration in force no longer has.

        Only while this daemon runs the published generation, so a daemon left on
        an older configuration during a rollout never buries a new queue's jobs. The
        published document (every entry, large with many) is read only when some queue
        in storage is not in force: most rounds find none and read just the names.
        """
        force = self.in_force
        lanes = force.lanes
        orphans = [queue for queue in self.storage.queue_names() if queue not in lanes]
        if not orphans or force.view is None:
            return
        published = records.read_published(self.storage)
        if published is None or published.hash != force.view.hash:
            return
        for queue in orphans:
            reason = (
                f"queue '{queue}' no longer exists in the configuration "
                f"(generation {force.generation})"
            )
            for lease in self.storage.lease(queue, self.owner, count=100, lease_for=60):
                self._bury(lease, reason)

    def _bury(self, lease: Lease, reason: str) -> None:
        try:
            job = decode(lease.raw)
        except Unreadable:
            job = Job(lease.job_id, lease.queue, lease.raw.decode("utf-8", errors="replace"))
        record = Record(job, State.DEAD, reason=reason, updated=time.time())
        if self.storage.bury(lease, record, DEAD_LETTER_RETAIN.total_seconds()):
            self._dead(job.id, alerts.QUEUE_REMOVED, record)
        event(logging.WARNING, "job dead", job=job.id, queue=lease.queue, reason=reason)

    def _dead(self, job_id: str, cause: str, record: Record | None = None) -> None:
        """Report a job dead-lettered here; its record is read only if an alert wants it."""
        if self.alert is None or not self.alert.wants(JOB_DEAD):
            return
        try:
            record = record or self.storage.record(job_id)
        except Exception as exc:  # the alert is lost, never the chore
            event(logging.ERROR, "alert not delivered", job=job_id, error=str(exc))
            return
        if record is not None:
            self.alert(alerts.job_dead(record, cause, time.time()))
