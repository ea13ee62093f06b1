"""Which alerts take an event, and what each delivers. Pure.

An alert takes an event it lists, narrowed by its `queues:` filter for the
events about a queue, and for `queue.backlog` only past its `backlog_age`.
An event about the alert's own queue is never delivered into it: a dead
alert job would otherwise alert about itself, and its alert die the same
way, for ever. It comes back as `Looped`, for the caller to log.

Keys: `claim_key` names the occurrence for one alert (the same on every
daemon: it is claimed once, and is also the alert job's idempotency key);
`throttle_key` names the alert, the event kind and the subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jobrunner.alerts.event import Event
from jobrunner.config.alerts import ABOUT_QUEUES, QUEUE_BACKLOG
from jobrunner.config.model import Alert


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert job to enqueue (after its claim, and its throttle if any)."""

    alert: Alert
    event: Event

    @property
    def claim_key(self) -> str:
        return claim_key(self.alert, self.event)

    @property
    def throttle_key(self) -> str:
        return throttle_key(self.alert, self.event)


@dataclass(frozen=True, slots=True)
class Looped:
    """An event about the alert's own queue: logged, never delivered into that queue."""

    alert: Alert
    event: Event


def route(alerts: Iterable[Alert], event: Event) -> list[Delivery | Looped]:
    """What each alert of `alerts` does with `event`, in name order; alerts that do
    not take it are left out."""
    found: list[Delivery | Looped] = []
    for alert in sorted(alerts, key=lambda a: a.name):
        if not takes(alert, event):
            continue
        found.append(Looped(alert, event) if event.queue == alert.queue else Delivery(alert, event))
    return found


def takes(alert: Alert, event: Event) -> bool:
    """Whether `alert` routes `event`, before the loop guard."""
    if event.kind not in alert.events:
        return False
    if alert.queues is not None and event.kind in ABOUT_QUEUES and event.queue not in alert.queues:
        return False
    if event.kind == QUEUE_BACKLOG:
        age = event.details.get("age")
        limit = alert.backlog_age
        return limit is not None and isinstance(age, int | float) and age >= limit.total_seconds()
    return True


def claim_key(alert: Alert, event: Event) -> str:
    return f"alert:{alert.name}:{event.identity}"


def throttle_key(alert: Alert, event: Event) -> str:
    return f"alert-throttle:{alert.name}:{event.kind}:{event.subject}"


def payload(alert: Alert, event: Event, suppressed: int = 0) -> dict[str, Any]:
    """The alert job's payload (docs/jobfile.md documents it). `suppressed`: events of
    this alert, kind and subject that its throttle held back on this daemon since the
    last delivery."""
    details = dict(event.details)
    if event.kind == QUEUE_BACKLOG and alert.backlog_age is not None:
        details["threshold"] = alert.backlog_age.total_seconds()
    return {
        "alert": alert.name,
        "event": event.kind,
        "subject": event.subject,
        "at": event.at,
        "summary": event.summary,
        "details": details,
        "suppressed": suppressed,
    }
