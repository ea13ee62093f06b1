"""What a daemon is told to be: its role, storage, jobs directory and limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jobrunner.storage import DEFAULT_URL
from jobrunner.storage.signing import Keys
from jobrunner.worker.pool import THREADS


@dataclass(frozen=True)
class Settings:
    """How `jobrunner run` was asked to run (cli/run.py makes it from the options)."""

    jobs_dir: Path = Path("jobs.d")
    storage: str = DEFAULT_URL
    role: str = "all"  # all | scheduler | worker | web (no workers, no scheduler: HTTP only)
    queues: tuple[str, ...] = ()  # empty: every lane
    grace: float = 30.0
    lease_for: float = 30.0
    watch: bool = True
    keys: Keys | None = None  # signing keys (storage/signing.py)
    strict: bool = True  # as root, refuse job files others could write (reload/strict.py)
    # `jobrunner run --role worker …` for the worker processes (workers.py), and what their
    # environment adds (the storage URL: never on a command line others can read)
    worker_command: tuple[str, ...] = ()
    worker_env: Mapping[str, str] = field(default_factory=dict)
    processes: int = 1  # this process and processes - 1 worker processes
    on_demand: bool = False  # --processes auto: started when this process is saturated
    exit_when_idle: float | None = None  # stop once no job ran for this long (None: never)
    threads: int = THREADS  # worker threads of one process at most (worker/pool.py)
