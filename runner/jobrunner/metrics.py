"""What one daemon counts, for Prometheus: jobs, cron ticks, reloads, storage errors.

The stages count here (the worker its settlements, the scheduler its ticks,
the reload its results); the web role exposes the registry at `/metrics`.
Every figure is this daemon's own, so summing over pods never counts a job
twice: a daemon with worker processes (`--processes`) has them count into
files in a directory of its own (prometheus_client's multiprocess mode), and
its `/metrics` adds their counters and histograms to its own (`EXPOSED`). The
figures of the whole deployment (queue depths, live daemons) are read from the
storage at scrape time by the web role alone (`jobrunner.web.cluster`).

Names follow Prometheus conventions: a `jobrunner_` prefix, base units
(`_seconds`), `_total` for counters, and labels of bounded cardinality
(queue and cron names come from the job files, never from payloads).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import cache

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
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

SHARED = "PROMETHEUS_MULTIPROC_DIR"  # set for a worker process: it counts into files there

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


# The series a settlement counts in, looked up once: `labels()` costs several times what
# counting does, once per job. Labels are bounded by the configuration, so are the caches.
@cache
def jobs(queue: str, outcome: str) -> Counter:
    return JOBS.labels(queue, outcome)


@cache
def job_duration(queue: str) -> Histogram:
    return JOB_DURATION.labels(queue)


@cache
def job_wait(queue: str) -> Histogram:
    return JOB_WAIT.labels(queue)


class Exposed:
    """What a daemon's `/metrics` shows: this process's registry and, once `add_processes`
    named the directory its worker processes count into, their counters and histograms
    summed into the same series (a restarted process's counts stay). Gauges and the
    `process_*` figures are this process's own."""

    def __init__(self) -> None:
        self.shared: str | None = None

    def add_processes(self, directory: str | None) -> None:
        self.shared = directory

    def collect(self) -> Iterator[Metric]:
        own = REGISTRY.collect()
        if self.shared is None or not os.path.isdir(self.shared):
            yield from own
            return
        files = MultiProcessCollector(None, path=self.shared)  # type: ignore[no-untyped-call]
        theirs = {
            family.name: family
            for family in files.collect()  # type: ignore[no-untyped-call]
            if family.type in ("counter", "histogram")
        }
        for family in own:
            other = theirs.pop(family.name, None)
            yield family if other is None or other.type != family.type else _summed(family, other)
        yield from (_summed(family) for family in theirs.values())


def _summed(first: Metric, *more: Metric) -> Metric:
    """`first`'s family with the samples of `more` added to its own, in exposition order:
    each label set's buckets by `le`, then its count and sum."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in (first, *more):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = values.get(key, 0.0) + sample.value
    merged = Metric(first.name, first.documentation, first.type, first.unit)
    merged.samples = [Sample(name, dict(labels), value) for name, labels, value in _ordered(values)]
    return merged


def _ordered(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> Iterable[tuple[str, tuple[tuple[str, str], ...], float]]:
    def place(key: tuple[str, tuple[tuple[str, str], ...]]) -> tuple[object, ...]:
        name, labels = key
        series = tuple(pair for pair in labels if pair[0] != "le")
        le = dict(labels).get("le")
        suffix = 0 if name.endswith("_bucket") else 1 if name.endswith("_count") else 2
        return (series, suffix, float(le) if le is not None else 0.0, name)

    for key in sorted(values, key=place):
        yield key[0], key[1], values[key]


EXPOSED = Exposed()
