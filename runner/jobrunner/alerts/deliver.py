"""Delivering events: claim, throttle, enqueue. The I/O edge of the alerts.

Exactly one delivery per event across daemons: before anything else, an
alert claims the occurrence (`route.claim_key`, the same on every daemon
that saw it) in the storage; only the daemon that wins goes on. The alert
job also carries that key as its idempotency key, so a second enqueue of the
same occurrence within `CLAIM_TTL` stores nothing. Claiming first keeps the
throttle honest: an event that another daemon delivers is not counted as
suppressed here.

The throttle is a second claim, on the alert, event kind and subject, for
the alert's `throttle`; events it holds back are counted per daemon, and the
count goes into the next alert job this daemon delivers for them
(`suppressed`), and into the log at once.

Nothing here raises into the worker, scheduler or reload that reported the
event: a sick storage loses the alert (logged as an error), never a job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from jobrunner.alerts import route
from jobrunner.alerts.event import Event
from jobrunner.config.model import Config
from jobrunner.job import PRIORITY_RANK, Job, new_id, new_trace_id
from jobrunner.logs import event as log
from jobrunner.storage import Storage

CLAIM_TTL = 3600.0  # seconds an occurrence stays claimed: late observers of it stay quiet


class Alerter:
    """Delivers events into the alert queues of the configuration in force (`config`)."""

    def __init__(
        self,
        storage: Storage,
        config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage, self.config, self.clock = storage, config, clock
        self._suppressed: Counter[str] = Counter()  # by throttle key, on this daemon
        self._lock = threading.Lock()

    def wants(self, kind: str) -> bool:
        """Whether an alert in force routes events of `kind` (so that finding them is worth
        a read of the storage)."""
        return any(kind in alert.events for alert in self.config().alerts.values())

    def __call__(self, event: Event) -> None:
        """Deliver `event` to every alert that takes it; never raises."""
        try:
            config = self.config()
            for decision in route.route(config.alerts.values(), event):
                if isinstance(decision, route.Looped):
                    _looped(decision)
                else:
                    self._deliver(decision, config)
        except Exception as exc:  # a sick storage, or a bug: never the reporter's problem
            log(
                logging.ERROR,
                "alert not delivered",
                alert_event=event.kind,
                subject=event.subject,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _deliver(self, delivery: route.Delivery, config: Config) -> None:
        alert, event = delivery.alert, delivery.event
        if not self.storage.claim(delivery.claim_key, CLAIM_TTL):
            return  # another daemon delivers this occurrence
        throttle = alert.throttle.total_seconds()
        key = delivery.throttle_key
        if throttle > 0 and not self.storage.claim(key, throttle):
            with self._lock:
                self._suppressed[key] += 1
                held = self._suppressed[key]
            log(
                logging.INFO,
                "alert throttled",
                alert=alert.name,
                alert_event=event.kind,
                subject=event.subject,
                suppressed=held,
            )
            return
        with self._lock:
            suppressed = self._suppressed.pop(key, 0)
        queue = config.queues.get(alert.queue)
        job = Job(
            id=new_id(),
            queue=alert.queue,
            payload=route.payload(alert, event, suppressed),
            priority=PRIORITY_RANK[queue.policy.priority.value if queue else "normal"],
            created=self.clock(),
            idempotency_key=delivery.claim_key,
            trace_id=new_trace_id(),
        )
        try:
            got = self.storage.enqueue(job, idempotency_ttl=CLAIM_TTL)
        except Exception:
            with self._lock:
                self._suppressed[key] += suppressed  # told with the next one instead
            raise
        log(
            logging.INFO,
            "alert delivered",
            alert=alert.name,
            alert_event=event.kind,
            subject=event.subject,
            queue=alert.queue,
            job=got,
            suppressed=suppressed or None,
        )


def _looped(looped: route.Looped) -> None:
    log(
        logging.WARNING,
        "alert not delivered: the event is about the alert's own queue, "
        "and delivering it there could loop",
        alert=looped.alert.name,
        alert_event=looped.event.kind,
        queue=looped.alert.queue,
        summary=looped.event.summary,
    )
