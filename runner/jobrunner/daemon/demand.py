"""When a daemon wants its on-demand worker processes, and when a process may exit idle.

`--processes auto` (daemon/workers.py) starts the worker processes when the
daemon's own process is saturated (`Saturation`), and each of them exits by
itself once it has run no job for a while (`Idleness`, `--exit-when-idle`).
Both read what the process's pool already counts; the main loop asks them
about once a second, so neither adds work to a job.
"""

from __future__ import annotations

import time

from jobrunner.worker.pool import Pool

SATURATED = 0.6  # of a core: the daemon's process running jobs above it wants the others
LOOK_EVERY = 1.0  # seconds between looks at the load (a pressure signal looks at once)


class Saturation:
    """Whether the process has more jobs than it can run: since the last look, a lease left
    a lane holding more jobs than its concurrency (`Feeder.pressed`), or running jobs kept it
    above SATURATED of a core (jobs finished, and CPU time over wall time)."""

    def __init__(self, pool: Pool) -> None:
        self.feeder = pool.feeder
        self._at, self._cpu, self._finished = time.monotonic(), time.process_time(), 0
        self._pressed = self.feeder.pressed  # the last pressure signal looked at

    def restart(self) -> None:
        """Count the CPU from now (the start-up's is no load). A pressure signal of the
        start-up still counts: a daemon that starts into a backlog leases from it before it
        is ready, and must not wait for the next signal (a second later) to use every core."""
        self._at, self._cpu = time.monotonic(), time.process_time()
        self._finished = self.feeder.finished_jobs

    def look(self) -> bool:
        now, cpu, finished = time.monotonic(), time.process_time(), self.feeder.finished_jobs
        pressed = self.feeder.pressed > self._pressed
        if now - self._at < LOOK_EVERY and not pressed:
            return False
        window = now - self._at
        busy = finished != self._finished and (cpu - self._cpu) / window >= SATURATED
        self._at, self._cpu, self._finished = now, cpu, finished
        self._pressed = self.feeder.pressed
        return pressed or busy


class Idleness:
    """Whether no job ran or waited in the process for `limit` seconds. A job that runs,
    however long and however little CPU it takes, keeps the process: only the process
    knows it runs one, so it never is cut short for being idle."""

    def __init__(self, pool: Pool, limit: float) -> None:
        self.pool, self.limit = pool, limit
        self._since, self._finished = time.monotonic(), 0

    def restart(self) -> None:
        self._since, self._finished = time.monotonic(), self.pool.feeder.finished_jobs

    def long_enough(self) -> bool:
        now, finished = time.monotonic(), self.pool.feeder.finished_jobs
        if self.pool.held() or finished != self._finished:
            self._since, self._finished = now, finished
            return False
        return now - self._since >= self.limit
