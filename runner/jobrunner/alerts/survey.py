"""Looking at the storage for the events no code path reports: daemons lost, queues
backlogged. The daemon's upkeep runs each look as a chore (daemon/upkeep.py).

A daemon is lost when its heartbeat expires without it leaving. A daemon
that leaves claims `left_key(its id)` first (`leaving`); the first other
daemon to notice it gone claims the same key, so the claim tells both that
it did not leave and that no other daemon reported it yet.

A queue is backlogged when its oldest ready job has waited past an alert's
`backlog_age`; the storage's stats say since when (`QueueStats.oldest_ready`).
Each look reports every queue with ready jobs, and the routing keeps those
past each alert's threshold (alerts/route.py): no storage write unless one is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from jobrunner.alerts import event
from jobrunner.alerts.deliver import Alerter
from jobrunner.config.alerts import DAEMON_LOST, QUEUE_BACKLOG
from jobrunner.storage import Storage

LEFT_TTL = 3600.0  # seconds a daemon's leaving (or its loss, reported) stays claimed


def left_key(daemon: str) -> str:
    return f"alert-left:{daemon}"


class Survey:
    def __init__(
        self,
        storage: Storage,
        alert: Alerter,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage, self.alert, self.owner, self.clock = storage, alert, owner, clock
        self._alive: dict[str, Mapping[str, Any]] = {}  # at the last look, with their beat

    def daemons(self) -> bool:
        """Report each daemon alive at the last look and gone now without leaving; whether
        it looked (no alert wants it: it does not)."""
        if not self.alert.wants(DAEMON_LOST):
            self._alive = {}
            return False
        alive: dict[str, Mapping[str, Any]] = {str(d.get("id")): d for d in self.storage.daemons()}
        for gone in sorted(self._alive.keys() - alive.keys() - {self.owner}):
            if self.storage.claim(left_key(gone), LEFT_TTL):
                self.alert(event.daemon_lost(gone, self._alive[gone], self.clock()))
        self._alive = alive
        return True

    def backlog(self) -> bool:
        """Report each queue with ready jobs, and how long the oldest has waited; whether it
        looked (no alert wants it: it does not)."""
        if not self.alert.wants(QUEUE_BACKLOG):
            return False
        now = self.clock()
        for queue, stats in sorted(self.storage.stats().items()):
            if stats.ready and stats.oldest_ready is not None:
                self.alert(event.queue_backlog(queue, stats.oldest_ready, stats.ready, now))
        return True

    def leaving(self) -> None:
        """This daemon leaves: no other reports it lost."""
        self.storage.claim(left_key(self.owner), LEFT_TTL)
