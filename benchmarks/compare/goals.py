"""The jobrunner-only figures the report lists, their units and the goals of issue 12."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Goal:
    key: str  # in the JSON's "jobrunner" section
    label: str
    unit: str
    bound: float | None = None  # None: shown, no goal
    better: str = "lower"  # lower | higher: which side of `bound` meets the goal
    digits: int | None = None  # decimals shown (None: 2 for ms, % and x, else 0)

    def met(self, value: float) -> bool | None:
        if self.bound is None:
            return None
        compare: Callable[[float, float], bool] = (
            operator.le if self.better == "lower" else operator.ge
        )
        return compare(value, self.bound)

    @property
    def text(self) -> str:
        if self.bound is None:
            return "—"
        return f"{'≤' if self.better == 'lower' else '≥'} {self.bound:,g} {self.unit}".strip()


GOALS = (
    Goal("bulk_enqueue_redis", "bulk enqueue (`enqueue_many`), Redis", "jobs/s", 30_000, "higher"),
    Goal("bulk_enqueue_sqlite", "bulk enqueue (`enqueue_many`), SQLite", "jobs/s"),
    Goal("enqueue_p50_redis", "enqueue p50 under load, Redis", "ms"),
    Goal("enqueue_p99_redis", "enqueue p99 under load, Redis", "ms", 1),
    # A PING after each enqueue of that sample: what any round trip sees under that load.
    Goal("ping_p99_redis", "PING p99 under the same load, Redis", "ms"),
    Goal("enqueue_p50_sqlite", "enqueue p50 under load, SQLite", "ms"),
    Goal("enqueue_p99_sqlite", "enqueue p99 under load, SQLite", "ms", 2),
    Goal("pickup_p50_redis", "pickup p50, Redis", "ms"),
    Goal("pickup_p99_redis", "pickup p99, Redis", "ms", 5),
    Goal("pickup_p50_sqlite", "pickup p50, SQLite", "ms"),
    Goal("pickup_p99_sqlite", "pickup p99, SQLite", "ms", 50),
    Goal("tick_lateness_p50", "cron tick lateness p50", "ms"),
    Goal("tick_lateness_p99", "cron tick lateness p99", "ms", 50),
    Goal("reload_p50", "reload latency p50, {entries} entries", "ms", 1000),
    Goal("reload_max", "reload latency max, {entries} entries", "ms"),
    Goal("idle_cpu_percent_redis", "idle CPU, {entries} queues + {entries} crons, Redis", "%", 1),
    Goal("idle_rss_mb_redis", "idle RSS (process tree), Redis", "MB", 100),
    Goal("idle_pss_mb_redis", "idle PSS (process tree), Redis", "MB"),
    Goal("idle_processes_redis", "daemon processes, Redis", ""),
    Goal("idle_connections_redis", "TCP connections to Redis", ""),
    Goal("idle_cpu_percent_sqlite", "idle CPU, {entries} queues + {entries} crons, SQLite", "%", 1),
    Goal("idle_rss_mb_sqlite", "idle RSS (process tree), SQLite", "MB", 100),
    Goal("idle_pss_mb_sqlite", "idle PSS (process tree), SQLite", "MB"),
    Goal("cmds_per_job", "Redis commands per job (enqueue + work)", "", 10, digits=1),
    Goal("drain_ratio", "drain throughput ÷ best peer", "x", 3, "higher"),
    Goal("steady_ratio", "steady throughput ÷ best peer", "x", 3, "higher"),
    # The issue's own words: 3x Dramatiq's default, 1.5x the floor (best peer is stricter).
    Goal("drain_vs_dramatiq", "drain throughput ÷ Dramatiq's default", "x", 3, "higher"),
    Goal("steady_vs_dramatiq", "steady throughput ÷ Dramatiq's default", "x", 3, "higher"),
)
