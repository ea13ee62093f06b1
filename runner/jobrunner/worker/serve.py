"""Serving one lane: take leased jobs, run an attempt, and settle each one.

Settling is the acknowledgement: `ack` (done), `retry` (acknowledge and
store the next attempt, in one atomic step) or `bury` (dead-letter queue).
Until then the job stays leased to this daemon, and comes back to the queue
if the daemon dies. A message that cannot be decoded, or whose lane no longer
exists, is buried with the reason, never dropped.

A paused queue leases nothing: the storage checks the pause in the lease
itself. A job this lane leased before the pause and had not started yet
(prefetched while every worker was busy, or waiting for its rate limit) goes
back to its queue instead of starting, once the daemon has seen the pause
(`hold`, every half second). Jobs already running finish normally.

A cancelled job that this lane holds is stopped once the daemon has read the
request (`cancel`, every half second): a running attempt's cancel event is set
(a `shell` command or an isolated child is killed, an in-process handler sees
`ctx.cancelled`), one not started yet never starts; either way the job ends
CANCELLED with a `cancelled` attempt, kept as long as a dead job, never retried.

Every job this lane buries is reported to `alert` as a `job.dead` event
(alerts/event.py), once its bury is stored; `alert` never raises.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, replace
from typing import Any

from jobrunner import metrics
from jobrunner.alerts import event as alerts
from jobrunner.alerts.event import Event
from jobrunner.job import DEAD_LETTER_RETAIN, Attempt, Job, Record, State, Unreadable, decode
from jobrunner.logs import event
from jobrunner.storage import Lease, Storage, StorageError
from jobrunner.worker import attempt, retry
from jobrunner.worker.lane import Lane
from jobrunner.worker.retry import Status, Verdict

DEAD_RETAIN = DEAD_LETTER_RETAIN.total_seconds()  # for jobs no lane is left to judge
WAIT_SECONDS = 5.0  # longest a worker sleeps; what may make a job due (or a stop) wakes it sooner
RATE_MARGIN, RATE_MARGIN_MIN = 0.02, 0.05  # of a rate-limit window, and at least (seconds)
PAUSE_LOOK = 0.5  # seconds between looks for a pause while waiting for a rate-limit start


@dataclass(frozen=True, slots=True)
class SetupProblem:
    """The lane's handler could not be set up at its last attempt (an import, a secret)."""

    error: str
    since: float


class LaneWorker:
    """Leases, runs and settles the jobs of one lane for one daemon."""

    def __init__(
        self,
        name: str,
        storage: Storage,
        owner: str,
        lookup: Callable[[str], Lane | None],
        plugins: attempt.Plugins,
        *,
        lease_for: float,
        prefetch: int = 1,
        origin: Callable[[], Mapping[str, Any]] = dict,
        alert: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.name, self.storage, self.owner = name, storage, owner
        self.alert = alert  # told of each job this lane buries
        self.lookup, self.plugins = lookup, plugins
        self.lease_for, self.prefetch = lease_for, max(1, prefetch)
        self.origin = origin  # generation and commit of the configuration in force
        self.stopping = threading.Event()
        self._buffer: deque[Lease] = deque()
        self._lock = threading.Lock()
        # by token: the job, when it started, and its cancel event
        self._running: dict[str, tuple[Lease, Job, float, threading.Event]] = {}
        self._cancelled: set[str] = set()  # tokens of held jobs whose cancel was read
        self.setup_problem: SetupProblem | None = None  # its handler cannot be set up, since when
        self._paused_at: float | None = None  # when a read that found the queue paused began
        self._taken: dict[str, float] = {}  # by token: when its lease was asked for
        self._random = random.Random()

    # -- taking work -------------------------------------------------------

    def next_lease(self) -> Lease | None:
        """A leased job to run, waiting briefly for one; None when there is none or stopping."""
        for round_ in range(2):
            try:
                with self._lock:
                    # Checked under the lock: give_back() drains the buffer under it too,
                    # so no lease taken here can be left stranded in a stopped lane.
                    if self.stopping.is_set():
                        return None
                    if not self._buffer:
                        asked = time.monotonic()
                        leases = self.storage.lease(
                            self.name, self.owner, count=self.prefetch, lease_for=self.lease_for
                        )
                        self._taken.update((lease.token, asked) for lease in leases)
                        self._buffer.extend(leases)
                    if self._buffer:
                        return self._buffer.popleft()
                if round_ == 0:
                    self.storage.wait([self.name], WAIT_SECONDS)
            except StorageError as exc:
                event(logging.ERROR, "storage unreachable", queue=self.name, error=str(exc))
                self.stopping.wait(1.0)
                return None
        return None

    def held(self) -> list[Lease]:
        """The leases this lane holds: prefetched and running."""
        with self._lock:
            buffered = list(self._buffer)
        return buffered + [lease for lease, _, _, _ in list(self._running.values())]

    def cancel(self, job_ids: Set[str]) -> None:
        """Stop the held jobs whose cancel was requested (`job_ids`, as the storage says)."""
        for lease in self.held():
            if lease.job_id in job_ids and lease.token not in self._cancelled:
                self._cancelled.add(lease.token)
                running = self._running.get(lease.token)
                if running is not None:
                    running[3].set()
                event(logging.INFO, "job cancelled: stopping it", job=lease.job_id, queue=self.name)

    def give_back(self) -> int:
        """Return prefetched jobs that no worker started, at once (the lane is stopping)."""
        with self._lock:
            leases, self._buffer = list(self._buffer), deque()
        for lease in leases:
            self._taken.pop(lease.token, None)
            job = self._job_of(lease)  # a refused one is never stored again, so never signed
            if job is not None:
                self._return(lease, job)
        return len(leases)

    def hold(self, paused: bool, read_at: float) -> None:
        """Whether the queue is paused, as a read of the storage begun at `read_at`
        (`time.monotonic()`) found: a job leased before then does not start while it is."""
        self._paused_at = read_at if paused else None

    def _before_pause(self, asked: float | None) -> bool:
        """Whether a lease asked for at `asked` may predate the pause in force: if so, its
        job must not start. A lease asked for after a read that found the queue paused was
        granted, so the queue was resumed since: it starts."""
        paused_at = self._paused_at
        return paused_at is not None and asked is not None and asked < paused_at

    def _return(self, lease: Lease, job: Job, why: str = "") -> None:
        """Put a leased job that did not start back in its queue, due now, its history kept."""

        def write() -> bool:
            record = Record(job, State.QUEUED, self._history(lease, job), reason=why)
            record = replace(record, updated=time.time(), deliveries=lease.deliveries)
            return self.storage.retry(lease, job, 0.0, record)

        self._persist(write)

    # -- running it ----------------------------------------------------------

    def dispatch(self, lease: Lease) -> None:
        """Run one delivered job to its settlement (or put it back: its queue was paused)."""
        asked = self._taken.pop(lease.token, None)
        job = self._job_of(lease)
        if job is None:
            return
        lane = self.lookup(self.name)
        if lane is None:
            reason = f"queue '{self.name}' no longer exists in the configuration"
            record = Record(job, State.DEAD, reason=reason, updated=time.time())
            if self.storage.bury(lease, record, DEAD_RETAIN):
                self.alert(alerts.job_dead(record, alerts.QUEUE_REMOVED, record.updated))
            event(logging.WARNING, "job dead", job=job.id, queue=self.name, reason=reason)
            return
        if not self._wait_for_rate(lane, asked):
            return  # stopping while rate-limited: the job stays leased and is released at exit
        if self._before_pause(asked):
            self._return(lease, job, f"queue '{self.name}' was paused before the job started")
            event(logging.INFO, "queue paused: job put back unstarted", job=job.id, queue=self.name)
            return
        cancel = threading.Event()
        self._running[lease.token] = (lease, job, time.time(), cancel)
        try:
            if lease.token in self._cancelled:  # cancelled while it waited here
                cancel.set()
            outcome = attempt.run(lane, job, self.plugins, cancel)
            self._settle(lease, lane, job, outcome)
        finally:
            self._running.pop(lease.token, None)
            self._cancelled.discard(lease.token)

    def hand_back_running(self, why: str) -> int:
        """Give back the jobs still running here (the daemon exits before they end).

        Each gets an `interrupted` attempt in its history, then goes back to its
        queue at once, without using up an attempt. Fenced like any settle: if
        the job finished first, its own ack wins and this changes nothing.
        """
        handed = 0
        for lease, job, started, _ in list(self._running.values()):
            tried = Attempt(
                number=job.attempt,
                started=started,
                ended=time.time(),
                outcome="interrupted",
                daemon=self.owner,
                error_type="Shutdown",
                error=why,
            )
            try:
                history = (*self._history(lease, job), tried)
                record = Record(
                    job,
                    State.QUEUED,
                    history,
                    reason=why,
                    updated=tried.ended,
                    deliveries=lease.deliveries,
                )
                handed += self.storage.retry(lease, job, 0.0, record)
                metrics.JOBS.labels(self.name, "interrupted").inc()
            except StorageError as exc:  # the lease is released, or expires, all the same
                event(logging.ERROR, "could not record the hand-back", job=job.id, error=str(exc))
        return handed

    def _wait_for_rate(self, lane: Lane, asked: float | None) -> bool:
        """Take a start from the lane's rate limit; False if stopping first. A pause stops
        the wait at once (the job is put back)."""
        limit = lane.rate_limit
        if limit is None:
            return True
        # A start is observed a little after its permit is granted; a margin on the
        # window keeps every window a handler could observe within the limit.
        period = limit.period.total_seconds()
        period += max(RATE_MARGIN_MIN, period * RATE_MARGIN)
        while True:
            wait = self.storage.take(lane.name, limit.count, period)
            if wait <= 0:
                return True
            until = time.monotonic() + wait
            while (left := until - time.monotonic()) > 0:
                if self.stopping.wait(min(left, PAUSE_LOOK)):
                    return False
                if self._before_pause(asked):
                    return True

    def _settle(self, lease: Lease, lane: Lane, job: Job, outcome: attempt.Outcome) -> None:
        self._note_setup(lane, outcome)
        policy = lane.policy
        decision = retry.decide(
            outcome.status, job.attempt, policy.retry, self._random.random(), outcome.retry_after
        )
        history = self._history(lease, job)
        tried = Attempt(
            number=job.attempt,
            started=outcome.started,
            ended=outcome.ended,
            outcome=outcome.status.value,
            daemon=self.owner,
            error_type=outcome.error_type,
            error=outcome.error,
            traceback=outcome.traceback,
        )
        record = Record(
            job,
            State.SUCCEEDED,
            (*history, tried),
            outcome.result,
            updated=outcome.ended,
            deliveries=lease.deliveries,
            extra={**self.origin(), "file": lane.source.file, "line": lane.source.line},
        )
        if decision.verdict is Verdict.DONE:
            keep = policy.retain_completed.total_seconds()
            held = self._persist(lambda: self.storage.ack(lease, record, keep))
        elif decision.verdict is Verdict.CANCELLED:
            record = replace(record, state=State.CANCELLED, reason=decision.reason)
            keep = policy.dead_letter_retain.total_seconds()
            held = self._persist(lambda: self.storage.ack(lease, record, keep))
        elif decision.verdict is Verdict.RETRY:
            record = replace(record, state=State.RETRYING, reason=outcome.error)
            held = self._persist(
                lambda: self.storage.retry(lease, job.next_attempt(), decision.delay, record)
            )
        else:
            reason = f"{decision.reason}: {outcome.error_type}: {outcome.error}".rstrip(": ")
            record = replace(record, state=State.DEAD, reason=reason)
            keep = policy.dead_letter_retain.total_seconds()
            held = self._persist(lambda: self.storage.bury(lease, record, keep))
        if held is not None:
            self._log(job, lane, outcome, decision, held)
        if held:
            self._count(lane.name, job, lease, outcome, decision.verdict)
        if held and decision.verdict is Verdict.DEAD:
            cause = alerts.PERMANENT if outcome.status is Status.PERMANENT else alerts.RETRIES
            self.alert(alerts.job_dead(record, cause, outcome.ended))

    @staticmethod
    def _count(
        queue: str, job: Job, lease: Lease, outcome: attempt.Outcome, verdict: Verdict
    ) -> None:
        word = {
            Verdict.DONE: "succeeded",
            Verdict.RETRY: "retried",
            Verdict.DEAD: "dead",
            Verdict.CANCELLED: "cancelled",
        }
        metrics.JOBS.labels(queue, word[verdict]).inc()
        metrics.JOB_DURATION.labels(queue).observe(outcome.ended - outcome.started)
        if job.attempt == 1 and lease.deliveries == 0 and job.created:
            metrics.JOB_WAIT.labels(queue).observe(max(0.0, outcome.started - job.created))

    def _note_setup(self, lane: Lane, outcome: attempt.Outcome) -> None:
        """Keep (and log once) that the handler cannot be set up; clear it once it can."""
        if outcome.error_type != attempt.SETUP_ERROR:
            self.setup_problem = None
            return
        if self.setup_problem is None or self.setup_problem.error != outcome.error:
            event(
                logging.ERROR,
                "handler cannot be set up; its jobs fail until it can",
                queue=self.name,
                file=lane.source.file,
                line=lane.source.line,
                error=outcome.error,
            )
            self.setup_problem = SetupProblem(outcome.error, outcome.ended)

    def _persist(self, write: Callable[[], bool]) -> bool | None:
        """Settle, retrying while the storage is unreachable; None if we stopped first.

        The job stays leased meanwhile; if the daemon exits first, the lease is
        released (or expires) and the job runs again: at least once, never lost.
        """
        delay = 0.1
        while True:
            try:
                return write()
            except StorageError as exc:
                event(logging.ERROR, "storage unreachable, will retry", error=str(exc))
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)

    def _history(self, lease: Lease, job: Job) -> tuple[Attempt, ...]:
        if not lease.history:  # a fresh job: nothing to read
            return ()
        earlier = self.storage.record(job.id)
        return earlier.attempts if earlier else ()

    def _job_of(self, lease: Lease) -> Job | None:
        """The job `lease` delivers; None, and buried with the reason, when it may not run:
        refused (not signed with a key in use) or unreadable."""
        if lease.refused:
            self._bury_unreadable(lease, lease.refused)
            return None
        try:
            return decode(lease.raw)
        except Unreadable as exc:
            self._bury_unreadable(lease, str(exc))
            return None

    def _bury_unreadable(self, lease: Lease, why: str) -> None:
        text = lease.raw.decode("utf-8", errors="replace")[:2000]
        placeholder = Job(id=lease.job_id, queue=self.name, payload=text)
        record = Record(placeholder, State.DEAD, reason=why, updated=time.time())
        if self.storage.bury(lease, record, DEAD_RETAIN):
            self.alert(alerts.job_dead(record, alerts.UNREADABLE, record.updated))
        event(
            logging.ERROR,
            "unreadable message buried",
            job=lease.job_id,
            queue=self.name,
            reason=why,
        )

    def _log(
        self, job: Job, lane: Lane, outcome: attempt.Outcome, decision: retry.Decision, held: bool
    ) -> None:
        level = logging.INFO if decision.verdict is Verdict.DONE else logging.WARNING
        message = {
            Verdict.DONE: "job succeeded",
            Verdict.RETRY: "job failed, will retry",
            Verdict.DEAD: "job dead",
            Verdict.CANCELLED: "job cancelled",
        }[decision.verdict]
        event(
            level if held else logging.WARNING,
            message if held else message + " (lease had expired: the job was re-delivered)",
            job=job.id,
            queue=lane.name,
            attempt=job.attempt,
            duration=round(outcome.ended - outcome.started, 3),
            outcome=outcome.status.value,
            trace=job.trace_id,
            error=f"{outcome.error_type}: {outcome.error}" if outcome.error_type else None,
            retry_in=round(decision.delay, 3) if decision.verdict is Verdict.RETRY else None,
            cron=job.cron,
        )
