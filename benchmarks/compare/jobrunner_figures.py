"""The figures only jobrunner is measured on, each from the benchmark script that owns it.

- pickup p50/p99: an idle daemon, enqueue → the handler's first line
  (pickup_bench.py), on SQLite and on Redis;
- cron tick lateness p50/p99: due instant → enqueue, per-second entries, a
  scheduler on SQLite (schedule_bench.py);
- reload latency: save one file of ENTRIES cron entries → the new generation
  in force (schedule_bench.py);
- idle cost of a daemon with ENTRIES queues and ENTRIES cron entries that run
  their own handlers (none due during the measurement): CPU % of a core, RSS
  and PSS summed over its process tree (idle_bench.py), and on Redis the
  connections it holds (CLIENT LIST), on SQLite and Redis.

Single-enqueue latency under load and the bulk enqueue rate are measured on
the comparison's own jobrunner runs (peers/jobrunner.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import idle_bench
import pickup_bench
import schedule_bench
from daemon_proc import APPS as TEST_APPS
from daemon_proc import Daemon
from latency import percentiles

from benchmarks.compare.processes import APPS
from benchmarks.compare.redis_stats import clients, redis_server


@dataclass(frozen=True, slots=True)
class Sizes:
    pickups: int  # samples per storage
    ticks: int
    entries: int  # cron entries for the reload; queues and cron entries for the idle daemon
    reloads: int
    idle_seconds: float
    idle_warmup: float


def run(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """One round of every jobrunner-only figure, as flat `name: value` (ms, %, MB, count)."""
    workdir.mkdir(parents=True)
    figures: dict[str, Any] = {}
    with redis_server(workdir / "redis") as url:
        for storage, at in (("sqlite", f"sqlite:///{workdir / 'pickup.db'}"), ("redis", url)):
            pickups = percentiles(pickup_bench.measure(at, workdir, sizes.pickups))
            figures |= {
                f"pickup_p50_{storage}": pickups["p50"],
                f"pickup_p99_{storage}": pickups["p99"],
            }
    ticks = percentiles(schedule_bench.tick_lateness(workdir, sizes.ticks))
    figures |= {"tick_lateness_p50": ticks["p50"], "tick_lateness_p99": ticks["p99"]}
    reloads = percentiles(schedule_bench.reload_latency(workdir, sizes.entries, sizes.reloads))
    figures |= {"reload_p50": reloads["p50"], "reload_max": reloads["max"]}
    for storage in ("sqlite", "redis"):
        figures |= {f"{name}_{storage}": v for name, v in idle(storage, sizes, workdir).items()}
    return figures


def idle(storage: str, sizes: Sizes, workdir: Path) -> dict[str, float]:
    jobs = workdir / f"idle-{storage}" / "jobs.d"
    jobs.mkdir(parents=True)
    queues_and_crons(jobs, sizes.entries)
    with redis_server(workdir / f"idle-{storage}" / "redis") as redis_url:
        url = redis_url if storage == "redis" else f"sqlite:///{jobs.parent / 'state.db'}"
        path = f"{APPS}:{TEST_APPS}"
        daemon = Daemon(  # default flags: one process per CPU
            jobs,
            url,
            "--processes",
            "auto",
            log=jobs.parent / "daemon.log",
            env={"PYTHONPATH": path},
        )
        daemon.start()
        assert daemon.process is not None
        try:
            cost = idle_bench.idle_cost(daemon.process.pid, sizes.idle_seconds, sizes.idle_warmup)
            if storage == "redis":
                cost["connections"] = clients(url)
            return {f"idle_{name}": value for name, value in cost.items()}
        finally:
            daemon.stop()


def queues_and_crons(jobs: Path, count: int) -> None:
    """`count` queues and `count` hourly cron entries with handlers of their own, in 10 files;
    no entry is due within the next 20 minutes."""
    minute = (time.gmtime().tm_min + 30) % 60
    handler = 'handler: python, params: {callable: "jobrunner_app:noop"}'
    for f in range(10):
        numbers = range(f * count // 10, (f + 1) * count // 10)
        lines = ["version: 1", "queues:"]
        lines += [f"  q{n:05d}: {{{handler}}}" for n in numbers]
        lines.append("cron:")
        lines += [f"  c{n:05d}: {{schedule: '{minute} * * * *', {handler}}}" for n in numbers]
        (jobs / f"f{f}.yaml").write_text("\n".join(lines) + "\n")
