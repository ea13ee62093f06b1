"""Applying a plan to what a daemon runs: its workers and its scheduler, as its role has them.

The pool and the scheduler do not diff configurations of their own: they are
told which lanes to stop and start and which cron entries to add, drop or
re-plan, so what the log says was planned is what was applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobrunner.config.model import Config
from jobrunner.reload.plan import Plan
from jobrunner.scheduler.loop import Scheduler
from jobrunner.worker.lane import Lane
from jobrunner.worker.pool import Pool


@dataclass(frozen=True)
class Runtime:
    pool: Pool | None  # None: the role runs no workers
    scheduler: Scheduler | None  # None: the role fires no ticks
    queues: tuple[str, ...] = ()  # --queues: serve only these lanes (empty: every lane)

    def serves(self, lane: str) -> bool:
        return self.pool is not None and (not self.queues or lane in self.queues)


def apply(
    plan: Plan, config: Config, lanes: Mapping[str, Lane], generation: int, runtime: Runtime
) -> None:
    """Carry out `plan`, which turns what `runtime` runs into `config` (whose lanes are `lanes`)."""
    if runtime.pool is not None:
        start = [lanes[name] for name in sorted(plan.start_lanes) if runtime.serves(name)]
        runtime.pool.apply(stop=sorted(plan.stop_lanes), start=start)
    if runtime.scheduler is not None:
        runtime.scheduler.apply(
            config,
            generation,
            added=sorted(plan.names("cron", "+")),
            removed=sorted(plan.names("cron", "-")),
            replanned=sorted(plan.replan_crons),
        )
