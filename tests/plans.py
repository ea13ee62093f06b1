"""Giving a scheduler a configuration the way a reload does: plan against what it runs, apply."""

from __future__ import annotations

from jobrunner.config.model import Config
from jobrunner.reload import publish
from jobrunner.reload.apply import Runtime, apply
from jobrunner.reload.plan import plan
from jobrunner.scheduler.loop import Scheduler
from jobrunner.worker.lane import lanes


def running(scheduler: Scheduler) -> Config:
    """The cron entries `scheduler` runs now, as a configuration."""
    return Config(crons={name: entry.cron for name, entry in scheduler.entries.items()})


def take(scheduler: Scheduler, config: Config, generation: int) -> None:
    """Plan from what `scheduler` runs to `config`, and apply that plan to it."""
    before = publish.view(running(scheduler), 0) if scheduler.entries else None
    change = plan(before, publish.view(config, generation))
    apply(change, config, lanes(config), generation, Runtime(pool=None, scheduler=scheduler))
