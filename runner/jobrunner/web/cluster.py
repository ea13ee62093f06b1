"""The figures of the whole deployment, read from the storage at scrape time.

Only the web role exports them (one scrape target per deployment), so that
summing over pods never counts a queue twice; each daemon's own counters are
in `jobrunner.metrics`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobrunner.storage import QueueStats, Storage, StorageError, records

STATES = ("ready", "scheduled", "running", "dead")


class Cluster(Collector):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "jobrunner_storage_up",
            "Whether this scrape could read the shared storage (1) or not (0).",
        )
        try:
            stats, daemons = self.storage.stats(), self.storage.daemons()
            paused = self.storage.paused()
            published = records.read_published(self.storage)
        except StorageError:
            up.add_metric([], 0)
            yield up
            return
        configured = sorted(published.queues) if published else []
        up.add_metric([], 1)
        yield up
        yield self._workers(configured, daemons)
        jobs = GaugeMetricFamily(
            "jobrunner_queue_jobs",
            "Jobs in each queue of the deployment, by state (dead: in the dead-letter queue).",
            labels=["queue", "state"],
        )
        age = GaugeMetricFamily(
            "jobrunner_queue_oldest_ready_age_seconds",
            "How long each queue's longest-waiting ready job has been due (0: none ready).",
            labels=["queue"],
        )
        stopped = GaugeMetricFamily(
            "jobrunner_queue_paused",
            "Whether each queue is paused (1): no daemon starts its jobs until it is resumed.",
            labels=["queue"],
        )
        empty = QueueStats()  # a configured queue that never held a job has no counters yet
        now = time.time()
        for queue in sorted({*stats, *configured, *paused}):
            counts = stats.get(queue, empty)
            for state in STATES:
                jobs.add_metric([queue, state], getattr(counts, state))
            since = counts.oldest_ready
            age.add_metric([queue], 0.0 if since is None else max(0.0, now - since))
            stopped.add_metric([queue], 1 if queue in paused else 0)
        yield jobs
        yield age
        yield stopped
        alive = GaugeMetricFamily(
            "jobrunner_daemons",
            "Live daemons of the deployment (their heartbeat is current), by role.",
            labels=["role"],
        )
        roles = Counter(str(d.get("role", "unknown")) for d in daemons)
        for role, count in sorted(roles.items()):
            alive.add_metric([role], count)
        yield alive

    def _workers(self, configured: list[str], daemons: list[dict[str, Any]]) -> GaugeMetricFamily:
        """Live daemons serving each configured queue: 0 means its jobs wait for nobody."""
        workers = GaugeMetricFamily(
            "jobrunner_queue_workers",
            "Live daemons that serve each queue of the published configuration.",
            labels=["queue"],
        )
        serving = Counter(
            queue
            for d in daemons
            if isinstance(d.get("queues"), list)
            for queue in d["queues"]
            if isinstance(queue, str)
        )
        for queue in configured:
            workers.add_metric([queue], serving[queue])
        return workers
