"""Worker processes: one daemon uses every core of its host.

One Python process runs one thread at a time, so a daemon alone keeps one core
busy however many worker threads it has. With `--processes N` the daemon the
operator started starts N - 1 more `jobrunner run --role worker` processes on
the same jobs directory and storage, and owns their lifecycle:

- with `--processes auto` (the default) they run on demand: none while the
  daemon's own process keeps up, all of them from the moment it has more jobs than
  it can run at once (demand.py: a lane holds more than its concurrency, or running
  jobs keep the process busy). Each exits by itself, with status 0, once it has run
  no job for `--processes-idle` (`--exit-when-idle`): it alone knows whether it runs
  one, so a long job that takes no CPU is never cut short. An idle daemon is one
  process, whatever the host's CPUs (each process costs 55-75 MB), and a busy one
  uses every core. With `--processes N` all N run from the start, and one that
  exits is started again;

- each is a whole worker daemon of its own (its own leases, heartbeat and
  reload), and never a scheduler: only the first process fires ticks (and
  ticks are claimed once in storage anyway), serves HTTP and talks to systemd;
- only the daemon watches the jobs directory (a watcher wakes its process 10
  times a second): it passes each change on with SIGURG, and each process
  reloads the files if they changed, within a second of the change as the
  daemon does. SIGURG's default action is to ignore it, so one sent while a
  process starts is lost harmlessly: the process reads the files after;
- SIGHUP, SIGTERM and SIGINT reach the daemon and are passed on to each
  process, so a stop lets their running jobs finish for the same `--grace`,
  and a second stop signal ends them at once;
- one that exits unexpectedly is logged with its exit status and started again,
  after a pause that doubles while it keeps failing (up to RESTART_MAX);
- each counts its jobs into files in a directory the daemon makes for them
  (prometheus_client's multiprocess mode), and the daemon's `/metrics` adds
  their counts to its own; the directory goes when the daemon stops;
- each one dies with the daemon: it asks the kernel for SIGTERM when its parent
  dies (PR_SET_PDEATHSIG), so a SIGKILLed daemon leaves no worker behind to run
  jobs unsupervised; their leases are released or expire as for any daemon.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobrunner import metrics
from jobrunner.logs import event

PARENT = "JOBRUNNER_PARENT_PID"  # set in a worker process's environment: the daemon's pid
NUMBER = "JOBRUNNER_PROCESS"  # and its number, 1 to N - 1: each of its log lines carries it
RESTART_FIRST, RESTART_MAX = 1.0, 30.0  # seconds before starting a failed process again
PR_SET_PDEATHSIG = 1  # prctl option, from linux/prctl.h
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "QUOTA PERIOD", or "max PERIOD"
SYSTEMD = ("NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID")
# Not for a worker process: systemd talks to the daemon, and the daemon alone serves HTTP.
NOT_INHERITED = (*SYSTEMD, "JOBRUNNER_HTTP")


@dataclass
class _Seat:
    """One worker process, or the wait before it is started again."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    restart_at: float = 0.0
    pause: float = RESTART_FIRST
    started: float = 0.0
    parked: bool = False  # on demand: not started until wanted (again)


class WorkerProcesses:
    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        count: int,
        *,
        on_demand: bool = False,
    ) -> None:
        """`count` processes of `command` (a `jobrunner run --role worker` command line),
        each with `env` added to this process's environment; with `on_demand` each is
        started by `want` and, once it exits by itself when idle (status 0), not again
        until the next `want`; else all are started by `start` and kept running."""
        self.command, self.count = list(command), count
        self.env = {k: v for k, v in {**os.environ, **env}.items() if k not in NOT_INHERITED}
        self.env[PARENT] = str(os.getpid())
        self._seats = [_Seat(n, parked=on_demand) for n in range(1, count + 1)]
        self._stopping = False
        self.on_demand = on_demand
        self.counts: str | None = None  # the directory their metrics are counted in

    def start(self) -> None:
        try:
            self.counts = tempfile.mkdtemp(prefix="jobrunner-metrics-")
        except OSError as exc:
            event(logging.WARNING, f"/metrics shows this process's jobs alone: {exc}")
        else:
            self.env[metrics.SHARED] = self.counts
            metrics.EXPOSED.add_processes(self.counts)
        for seat in self._seats:
            if not seat.parked:
                self._start(seat)

    def want(self) -> None:
        """On demand: start at the next `tick` each process that is not running."""
        for seat in self._seats:
            if seat.parked:
                seat.parked, seat.restart_at, seat.pause = False, 0.0, RESTART_FIRST

    def close(self) -> None:
        """Forget the processes' counts (call once they have exited)."""
        metrics.EXPOSED.add_processes(None)
        if self.counts is not None:
            shutil.rmtree(self.counts, ignore_errors=True)
            self.counts = None

    def _start(self, seat: _Seat) -> None:
        env = {**self.env, NUMBER: str(seat.number)}
        seat.process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL)
        seat.started = time.monotonic()
        event(logging.INFO, "worker process started", worker=seat.number, pid=seat.process.pid)

    def tick(self) -> None:
        """Start again each process that exited (the daemon's main loop calls this)."""
        if self._stopping:
            return
        now = time.monotonic()
        for seat in self._seats:
            if self.on_demand and seat.process is not None and seat.process.poll() == 0:
                event(
                    logging.INFO,
                    "worker process stopped: idle",
                    worker=seat.number,
                    pid=seat.process.pid,
                )
                seat.process, seat.parked = None, True
            if seat.process is not None and seat.process.poll() is not None:
                status = seat.process.returncode
                if now - seat.started > RESTART_MAX:
                    seat.pause = RESTART_FIRST  # it ran well for a while: not a crash loop
                event(
                    logging.ERROR,
                    "worker process exited; starting it again",
                    worker=seat.number,
                    pid=seat.process.pid,
                    status=_status(status),
                    retry_in=seat.pause,
                )
                seat.process, seat.restart_at = None, now + seat.pause
                seat.pause = min(seat.pause * 2, RESTART_MAX)
            if seat.process is None and not seat.parked and now >= seat.restart_at:
                self._start(seat)

    def next_start(self) -> float:
        """When the next process that exited is due to start again (`time.monotonic()`;
        infinity when none waits): the daemon's main loop wakes for it."""
        if self._stopping:
            return math.inf
        waiting = (s.restart_at for s in self._seats if s.process is None and not s.parked)
        return min(waiting, default=math.inf)

    def signal(self, signum: int) -> None:
        """Pass `signum` on to every running process."""
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stopping = True
        for seat in self._seats:
            if seat.process is not None and seat.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    seat.process.send_signal(signum)

    def running(self) -> list[int]:
        """The pids of the processes running now."""
        return [
            s.process.pid for s in self._seats if s.process is not None and s.process.poll() is None
        ]

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for every process to exit; whether they all did."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def kill(self) -> None:
        for seat in self._seats:
            if seat.process is not None and seat.process.poll() is None:
                seat.process.kill()
                seat.process.wait()


def _status(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit {code}"


def available_cpus(cgroup: Path = Path(CGROUP_CPU_MAX)) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup CPU quota (a
    container limited to 2 CPUs on a 64-core node gets 2, not 64)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = count or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    return count


def process_number() -> int | None:
    """In a worker process, its number (1 to N - 1); else None."""
    number = os.environ.get(NUMBER, "")
    return int(number) if number.isdigit() and parent_pid() is not None else None


def parent_pid() -> int | None:
    """In a worker process, the pid of the daemon that started it; else None."""
    parent = os.environ.get(PARENT, "")
    return int(parent) if parent.isdigit() else None


def die_with_parent() -> None:
    """In a worker process: get SIGTERM when the daemon that started it dies, and stop now
    if it already has (no orphan runs jobs unsupervised)."""
    parent = parent_pid()
    if parent is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)
