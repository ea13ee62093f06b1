"""What one daemon counts, for Prometheus: jobs, cron ticks, reloads, storage errors.

The stages count here (the worker its settlements, the scheduler its ticks,
the reload its results); the web role exposes the registry at `/metrics`.
Every figure is this process's own, so summing over pods never counts a job
twice; the figures of the whole deployment (queue depths, live daemons) are
read from the storage at scrape time by the web role alone
(`jobrunner.web.cluster`).

Names follow Prometheus conventions: a `jobrunner_` prefix, base units
(`_seconds`), `_total` for counters, and labels of bounded cardinality
(queue and cron names come from the job files, never from payloads).
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No `_created` series beside every counter and histogram: they would double a scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# From a few milliseconds (no-op jobs) to an hour (reports, backups).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

JOBS = Counter(
    "jobrunner_jobs",
    "Attempts settled by this daemon, by queue and outcome: succeeded, retried (failed, "
    "another attempt follows), dead (dead-lettered), cancelled (by an operator), "
    "interrupted (handed back at shutdown) or lost (its lease expired: the daemon that "
    "held it died or hung; another delivery follows, or past max_deliveries it counts as dead).",
    ["queue", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "jobrunner_job_duration_seconds",
    "How long attempts ran on this daemon, by queue.",
    ["queue"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
JOB_WAIT = Histogram(
    "jobrunner_job_wait_seconds",
    "From enqueue to the start of a job's first attempt (a delay included), by queue.",
    ["queue"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
CRON_TICKS = Counter(
    "jobrunner_cron_ticks",
    "Cron ticks this daemon's scheduler handled, by entry and result: fired, skipped "
    "(overlap: forbid, the previous run still active) or missed (passed over after an "
    "outage, past starting_deadline).",
    ["cron", "result"],
    registry=REGISTRY,
)
CRON_LATENESS = Histogram(
    "jobrunner_cron_tick_lateness_seconds",
    "How late this daemon fired cron ticks after their time (jitter included).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 600),
    registry=REGISTRY,
)
RELOADS = Counter(
    "jobrunner_reloads",
    "Reloads of the job files, by result: applied (a plan applied, maybe empty), "
    "refused (the files do not validate together) or failed (the storage failed; retried).",
    ["result"],
    registry=REGISTRY,
)
GENERATION = Gauge(
    "jobrunner_config_generation",
    "The configuration generation this daemon runs (0 before the first load).",
    registry=REGISTRY,
)
STORAGE_ERRORS = Counter(
    "jobrunner_storage_errors",
    "Storage calls of this daemon's chores that failed (unreachable, locked, broken).",
    registry=REGISTRY,
)
