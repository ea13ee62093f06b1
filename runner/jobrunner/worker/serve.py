"""Running leased jobs, of every lane a daemon process serves: run an attempt, settle it.

Leases come from the feeder (feed.py), which leases for every lane at once.
Settling is the acknowledgement: `ack` (done; batched with other jobs' by the
acker, acks.py), `retry` (acknowledge and store the next attempt, in one atomic
step) or `bury` (dead-letter queue). Until then the job stays leased to this
daemon, and comes back to the queue if the daemon dies. A message that cannot be
decoded, or whose lane no longer exists, is buried with the reason, never dropped.

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
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, replace
from typing import Any

from jobrunner import metrics
from jobrunner.alerts import event as alerts
from jobrunner.alerts.event import Event
from jobrunner.job import DEAD_LETTER_RETAIN, Attempt, Job, Record, State, Unreadable, decode
from jobrunner.logs import LOGGER, event
from jobrunner.storage import Done, Lease, Storage, StorageError
from jobrunner.worker import attempt, retry
from jobrunner.worker.acks import Acker
from jobrunner.worker.lane import Lane
from jobrunner.worker.retry import Status, Verdict

DEAD_RETAIN = DEAD_LETTER_RETAIN.total_seconds()  # for jobs no lane is left to judge
RATE_MARGIN, RATE_MARGIN_MIN = 0.02, 0.05  # of a rate-limit window, and at least (seconds)
PAUSE_LOOK = 0.5  # seconds between looks for a pause while waiting for a rate-limit start


@dataclass(frozen=True, slots=True)
class SetupProblem:
    """The lane's handler could not be set up at its last attempt (an import, a secret)."""

    error: str
    since: float


class Runner:
    """Runs and settles the jobs of every lane one daemon process serves."""

    def __init__(
        self,
        storage: Storage,
        owner: str,
        lookup: Callable[[str], Lane | None],
        plugins: attempt.Plugins,
        *,
        acker: Acker,
        stopping: threading.Event,
        serves: Callable[[str], bool],
        origin: Callable[[], Mapping[str, Any]] = dict,
        alert: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.storage, self.owner = storage, owner
        self.alert = alert  # told of each job a lane buries
        self.lookup, self.plugins, self.acker = lookup, plugins, acker
        self.serves = serves  # whether a lane is still served (a reload may drop it)
        self.origin = origin  # generation and commit of the configuration in force
        self.stopping = stopping  # set when the daemon stops taking jobs
        # by token: its lease, the job, when it started, and its cancel event
        self._running: dict[str, tuple[Lease, Job, float, threading.Event]] = {}
        self._cancelled: set[str] = set()  # tokens of held jobs whose cancel was read
        self.setup_problems: dict[str, SetupProblem] = {}  # by lane: cannot be set up, since
        self._paused_at: dict[str, float] = {}  # by lane: when a read that found it paused began
        self._random = random.Random()

    # -- what it holds ----------------------------------------------------------------

    def running(self) -> list[Lease]:
        """The leases of the jobs running now."""
        return [lease for lease, _, _, _ in list(self._running.values())]

    def cancel(self, job_ids: Set[str], held: list[Lease]) -> None:
        """Stop the jobs of `held` whose cancel was requested (`job_ids`, as the storage says)."""
        for lease in held:
            if lease.job_id in job_ids and lease.token not in self._cancelled:
                self._cancelled.add(lease.token)
                running = self._running.get(lease.token)
                if running is not None:
                    running[3].set()
                event(
                    logging.INFO, "job cancelled: stopping it", job=lease.job_id, queue=lease.queue
                )

    def give_back(self, leases: list[Lease]) -> int:
        """Return leased jobs that no worker started, at once (their lane stops being served)."""
        for lease in leases:
            job = self._job_of(lease)  # a refused one is never stored again, so never signed
            if job is not None:
                self._return(lease, job)
        return len(leases)

    def hold(self, lane: str, paused: bool, read_at: float) -> None:
        """Whether lane `lane`'s queue is paused, as a read of the storage begun at `read_at`
        (`time.monotonic()`) found: a job leased before then does not start while it is."""
        if paused:
            self._paused_at[lane] = read_at
        else:
            self._paused_at.pop(lane, None)

    def _before_pause(self, lane: str, asked: float | None) -> bool:
        """Whether a lease asked for at `asked` may predate the pause in force: if so, its
        job must not start. A lease asked for after a read that found the queue paused was
        granted, so the queue was resumed since: it starts."""
        paused_at = self._paused_at.get(lane)
        return paused_at is not None and asked is not None and asked < paused_at

    def _return(self, lease: Lease, job: Job, why: str = "") -> None:
        """Put a leased job that did not start back in its queue, due now, its history kept."""

        def write() -> bool:
            record = Record(job, State.QUEUED, self._history(lease, job), reason=why)
            record = replace(record, updated=time.time(), deliveries=lease.deliveries)
            return self.storage.retry(lease, job, 0.0, record)

        self._persist(write)

    # -- running it ----------------------------------------------------------

    def dispatch(self, lease: Lease, asked: float | None) -> None:
        """Run one delivered job to its settlement (or put it back: its queue was paused),
        `asked` being when its lease was asked for."""
        name = lease.queue
        job = self._job_of(lease)
        if job is None:
            return
        lane = self.lookup(name)
        if lane is None:
            reason = f"queue '{name}' no longer exists in the configuration"
            record = Record(job, State.DEAD, reason=reason, updated=time.time())
            if self.storage.bury(lease, record, DEAD_RETAIN):
                self.alert(alerts.job_dead(record, alerts.QUEUE_REMOVED, record.updated))
            event(logging.WARNING, "job dead", job=job.id, queue=name, reason=reason)
            return
        if not self._wait_for_rate(lane, asked):
            self._return(lease, job)  # stopping, or the lane is no longer served
            return
        if self._before_pause(name, asked):
            self._return(lease, job, f"queue '{name}' was paused before the job started")
            event(logging.INFO, "queue paused: job put back unstarted", job=job.id, queue=name)
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
                metrics.jobs(lease.queue, "interrupted").inc()
            except StorageError as exc:  # the lease is released, or expires, all the same
                event(logging.ERROR, "could not record the hand-back", job=job.id, error=str(exc))
        return handed

    def _wait_for_rate(self, lane: Lane, asked: float | None) -> bool:
        """Take a start from the lane's rate limit; False if stopping first, or once the lane
        is no longer served. A pause stops the wait at once (the job is put back)."""
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
                if self.stopping.wait(min(left, PAUSE_LOOK)) or not self.serves(lane.name):
                    return False
                if self._before_pause(lane.name, asked):
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
        if decision.verdict in (Verdict.DONE, Verdict.CANCELLED):
            keep = policy.retain_completed
            if decision.verdict is Verdict.CANCELLED:
                record = replace(record, state=State.CANCELLED, reason=decision.reason)
                keep = policy.dead_letter_retain

            def acked(held: bool | None) -> None:
                self._report(lease, lane, job, outcome, decision, record, held)

            self.acker.ack(Done(lease, record, keep.total_seconds()), acked)
            return
        if decision.verdict is Verdict.RETRY:
            record = replace(record, state=State.RETRYING, reason=outcome.error)
            held = self._persist(
                lambda: self.storage.retry(lease, job.next_attempt(), decision.delay, record)
            )
        else:
            reason = f"{decision.reason}: {outcome.error_type}: {outcome.error}".rstrip(": ")
            record = replace(record, state=State.DEAD, reason=reason)
            keep_dead = policy.dead_letter_retain.total_seconds()
            held = self._persist(lambda: self.storage.bury(lease, record, keep_dead))
        self._report(lease, lane, job, outcome, decision, record, held)

    def _report(
        self,
        lease: Lease,
        lane: Lane,
        job: Job,
        outcome: attempt.Outcome,
        decision: retry.Decision,
        record: Record,
        held: bool | None,
    ) -> None:
        """Log, count and alert a settlement once it is stored (`held`: whether the lease was
        still held; None: not stored, the daemon stopped first)."""
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
        metrics.jobs(queue, word[verdict]).inc()
        metrics.job_duration(queue).observe(outcome.ended - outcome.started)
        if job.attempt == 1 and lease.deliveries == 0 and job.created:
            metrics.job_wait(queue).observe(max(0.0, outcome.started - job.created))

    def _note_setup(self, lane: Lane, outcome: attempt.Outcome) -> None:
        """Keep (and log once) that the handler cannot be set up; clear it once it can."""
        if outcome.error_type != attempt.SETUP_ERROR:
            self.setup_problems.pop(lane.name, None)
            return
        known = self.setup_problems.get(lane.name)
        if known is None or known.error != outcome.error:
            event(
                logging.ERROR,
                "handler cannot be set up; its jobs fail until it can",
                queue=lane.name,
                file=lane.source.file,
                line=lane.source.line,
                error=outcome.error,
            )
            self.setup_problems[lane.name] = SetupProblem(outcome.error, outcome.ended)

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
        placeholder = Job(id=lease.job_id, queue=lease.queue, payload=text)
        record = Record(placeholder, State.DEAD, reason=why, updated=time.time())
        if self.storage.bury(lease, record, DEAD_RETAIN):
            self.alert(alerts.job_dead(record, alerts.UNREADABLE, record.updated))
        event(
            logging.ERROR,
            "unreadable message buried",
            job=lease.job_id,
            queue=lease.queue,
            reason=why,
        )

    def _log(
        self, job: Job, lane: Lane, outcome: attempt.Outcome, decision: retry.Decision, held: bool
    ) -> None:
        # Success is DEBUG: at thousands of jobs a second a line each would cost a tenth of the
        # daemon's CPU and drown what needs reading; metrics and history count them all.
        level = logging.DEBUG if decision.verdict is Verdict.DONE else logging.WARNING
        if held and not LOGGER.isEnabledFor(level):
            return
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
