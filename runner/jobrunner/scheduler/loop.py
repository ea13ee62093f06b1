"""The scheduler: fire each cron tick once, on time, however many schedulers run.

It sleeps until the next due tick (no once-a-minute polling). Each tick is
enqueued with an idempotency key naming the entry and the tick, so the
enqueue itself is the claim: any number of schedulers on one storage fire it
once. `overlap: forbid` skips a tick while the entry's previous run is
still queued or running, and records the skip. What each entry last did is
kept in storage, so a restarted scheduler catches up per `starting_deadline`.
Missed and skipped ticks are counted in that state (`missed`, `skipped`) and
reported to `alert` (`tick.missed`, `tick.skipped`, alerts/event.py), which
never raises.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from jobrunner import metrics
from jobrunner.alerts import event as alerts
from jobrunner.alerts.event import Event
from jobrunner.config.model import Config, Cron, Enqueue, thaw
from jobrunner.job import PRIORITY_RANK, Job, State, new_id, new_trace_id
from jobrunner.logs import event
from jobrunner.scheduler import ticks
from jobrunner.storage import Storage, StorageError, records
from jobrunner.values import schedule

CLAIM_TTL = 86400.0  # long enough for every scheduler to have tried a tick
ACTIVE = {State.SCHEDULED, State.QUEUED, State.RUNNING, State.RETRYING}
MAX_SLEEP = 1.0  # re-check for reloads and stops at least this often
MISSED = "no scheduler was running, or the storage was unreachable"


@dataclass
class _Entry:
    cron: Cron
    last: datetime  # newest tick handled (fired, skipped or passed over)
    armed: datetime  # when this scheduler took the entry on
    next: datetime | None = None


class Scheduler:
    def __init__(
        self,
        storage: Storage,
        daemon: str,
        clock: Any = None,
        alert: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.storage, self.daemon = storage, daemon
        self.alert = alert  # told of missed and skipped ticks
        self.clock = clock or (lambda: datetime.now(UTC))
        self.entries: dict[str, _Entry] = {}
        self.generation = 0
        self.wakeup = threading.Event()
        self._lock = threading.Lock()
        self._random = random.Random()

    # -- configuration -------------------------------------------------------

    def apply(
        self,
        config: Config,
        generation: int,
        *,
        added: Iterable[str] = (),
        removed: Iterable[str] = (),
        replanned: Iterable[str] = (),
    ) -> None:
        """Take a new configuration as a plan says: add, drop and re-plan the entries named;
        every other entry keeps its state (last tick, next fire time) and takes its new settings.
        """
        now = self.clock()
        fresh = {name: self._remembered(name) or now for name in added}
        with self._lock:
            gone = set(removed)
            entries = {
                name: replace(entry, cron=config.crons[name])
                for name, entry in self.entries.items()
                if name not in gone
            }
            for name, last in fresh.items():
                entries[name] = _Entry(config.crons[name], last, now)
            for name in replanned:
                entries[name] = _Entry(config.crons[name], now, now)  # re-planned from now
            self.entries, self.generation = entries, generation
        self.wakeup.set()

    def _remembered(self, name: str) -> datetime | None:
        """The newest tick of `name` any scheduler handled (None: never, or unknown now)."""
        try:
            last = records.read_cron(self.storage, name).last
        except StorageError as exc:
            event(logging.ERROR, "cron state unreadable: from now", cron=name, error=str(exc))
            return None
        return datetime.fromtimestamp(last, UTC) if last is not None else None

    # -- the loop --------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                wait = self.step()
            except StorageError as exc:
                event(logging.ERROR, "scheduler cannot reach the storage, retrying", error=str(exc))
                wait = MAX_SLEEP
            except Exception as exc:  # never a reason for ticks to stop for good
                event(logging.ERROR, "scheduler step failed, retrying", error=f"{exc!r}")
                wait = MAX_SLEEP
            self.wakeup.wait(min(wait, MAX_SLEEP))
            self.wakeup.clear()

    def step(self) -> float:
        """Handle every entry that is due; seconds until the next one is."""
        now = self.clock()
        with self._lock:
            due = [(n, e) for n, e in self.entries.items() if e.next is None or e.next <= now]
        for name, entry in due:
            self._handle(name, entry, now)
        with self._lock:
            upcoming = [e.next for e in self.entries.values() if e.next is not None]
        if not upcoming:
            return MAX_SLEEP
        return max(0.0, (min(upcoming) - self.clock()).total_seconds())

    def _handle(self, name: str, entry: _Entry, now: datetime) -> None:
        cron = entry.cron
        decision = ticks.decide(cron.schedule, entry.last, now, cron.starting_deadline, entry.armed)
        entry.next = decision.next
        previous, entry.last = entry.last, max(entry.last, now)
        if cron.suspend:
            return
        if decision.missed:
            metrics.CRON_TICKS.labels(name, "missed").inc(decision.missed)
            event(
                logging.WARNING,
                "missed ticks passed over",
                cron=name,
                missed=decision.missed,
                reason=MISSED,
            )
            first = schedule.next_fire(cron.schedule, previous)
            self._count_missed(name, first, decision.missed)
            self.alert(alerts.tick_missed(name, first, decision.missed, now.timestamp(), MISSED))
        if decision.fire is not None:
            self.fire(cron, decision.fire, catch_up=decision.catch_up)

    # -- firing --------------------------------------------------------------

    def fire(self, cron: Cron, tick: datetime, *, catch_up: bool = False) -> str | None:
        """Enqueue the run of `cron` for `tick`; its job id, or None if skipped or already fired."""
        state = records.read_cron(self.storage, cron.name)
        if state.last is not None and state.last >= tick.timestamp():
            return None  # another scheduler handled this tick: its run is not a previous one
        if cron.overlap == "forbid" and self._running(state.job):
            self._skip(cron, tick, state)
            return None
        job = self._job(cron, tick)
        delay = self._random.random() * cron.jitter.total_seconds()
        got = self.storage.enqueue(job, delay=delay, idempotency_ttl=CLAIM_TTL)
        if got != job.id:
            return None  # another scheduler fired this tick
        now = self.clock().timestamp()
        fired = replace(state, last=tick.timestamp(), job=job.id, fired=now)
        records.write_cron(self.storage, cron.name, fired)
        metrics.CRON_TICKS.labels(cron.name, "fired").inc()
        if not catch_up:
            metrics.CRON_LATENESS.observe(max(0.0, now - tick.timestamp()))
        event(
            logging.INFO,
            "cron fired",
            cron=cron.name,
            tick=tick.isoformat(),
            job=job.id,
            queue=job.queue,
            catch_up=catch_up or None,
            delay=round(delay, 3) or None,
        )
        return job.id

    def _job(self, cron: Cron, tick: datetime) -> Job:
        """The run of `cron` for `tick`; its priority is the entry's (default normal)."""
        target = cron.target
        return run_of(
            cron.name,
            target.queue if isinstance(target, Enqueue) else None,
            thaw(target.payload) if isinstance(target, Enqueue) else None,
            cron.policy.priority.value,
            tick,
            self.clock().timestamp(),
        )

    def _running(self, job_id: str | None) -> bool:
        if not job_id:
            return False
        record = self.storage.record(job_id)
        return record is not None and record.state in ACTIVE

    def _count_missed(self, name: str, first: datetime | None, missed: int) -> None:
        """Add `missed` to the entry's count, once however many schedulers passed them over
        (claimed by the first tick missed)."""
        since = first.timestamp() if first is not None else 0.0
        if not self.storage.claim(f"missed:{name}@{since:.3f}", CLAIM_TTL):
            return
        state = records.read_cron(self.storage, name)
        records.write_cron(self.storage, name, replace(state, missed=state.missed + missed))

    def _skip(self, cron: Cron, tick: datetime, state: records.CronState) -> None:
        if not self.storage.claim(f"skip:{cron.name}@{tick.timestamp():.3f}", CLAIM_TTL):
            return
        skipped = state.skipped + 1
        metrics.CRON_TICKS.labels(cron.name, "skipped").inc()
        records.write_cron(
            self.storage,
            cron.name,
            replace(state, last=tick.timestamp(), skipped=skipped, last_skip=tick.timestamp()),
        )
        event(
            logging.WARNING,
            "tick skipped: the previous run is still queued or running",
            cron=cron.name,
            tick=tick.isoformat(),
            previous=state.job,
            skipped=skipped,
        )
        self.alert(alerts.tick_skipped(cron.name, tick, state.job, self.clock().timestamp()))

    def next_ticks(self) -> dict[str, datetime | None]:
        with self._lock:
            return {name: entry.next for name, entry in self.entries.items()}


def run_of(
    name: str,
    target_queue: str | None,
    payload: Any,
    priority: str,
    tick: datetime,
    created: float,
    *,
    manual: bool = False,
) -> Job:
    """The job that runs cron entry `name` for `tick`: what a tick and `jobrunner trigger` enqueue.

    An entry with a `queue` target enqueues its `payload` there; one with its
    own handler runs in a queue of its own name, with `{"cron", "tick"}` as
    payload. A tick's idempotency key names the tick, so any number of
    schedulers fire it once; a manual run's names the job, so it never
    collides with a tick (or another manual run).
    """
    job_id = new_id()
    key = f"cron:{name}@manual:{job_id}" if manual else f"cron:{name}@{tick.timestamp():.3f}"
    return Job(
        id=job_id,
        queue=target_queue if target_queue is not None else name,
        payload=payload if target_queue is not None else {"cron": name, "tick": tick.isoformat()},
        priority=PRIORITY_RANK[priority],
        created=created,
        idempotency_key=key,
        trace_id=new_trace_id(),
        cron=name,
        tick=tick.timestamp(),
    )
