"""The daemon: connect, load the job files, serve lanes and fire ticks, reload, stop cleanly.

Signal handlers only set flags (signals.py); the main loop acts on them.
SIGTERM or SIGINT stops taking jobs and firing ticks and lets running jobs
finish for up to `grace` seconds; what has not finished by then is handed
back to its queue. A second signal exits at once. SIGHUP and any change under
the jobs directory reload (reload/cycle.py). A lost storage connection is
retried with backoff while the daemon keeps running and reports itself
unhealthy.

`run` connects first, then builds the daemon from connected parts (`build`):
nothing in a `Daemon` is ever missing or waiting to be set.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from jobrunner.alerts.deliver import Alerter
from jobrunner.config.model import Access, Webhook
from jobrunner.daemon import watch, workers
from jobrunner.daemon.demand import Idleness, Saturation
from jobrunner.daemon.notify import Notifier
from jobrunner.daemon.signals import Signals
from jobrunner.daemon.upkeep import Upkeep
from jobrunner.logs import event
from jobrunner.registry import Registry, discover
from jobrunner.reload import strict as strict_mode
from jobrunner.reload.apply import Runtime
from jobrunner.reload.cycle import Reloader
from jobrunner.reload.in_force import InForce
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import DEFAULT_URL, Storage, StorageError, open_storage, redact
from jobrunner.storage.signing import Keys
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.pool import THREADS, Pool

RELOAD_RETRY = 2.0  # seconds between tries of a reload that the storage failed
WORKERS_EXIT = 15.0  # seconds past the grace for worker processes to hand their jobs back
SETTLE_AT_EXIT = 10.0  # seconds to store the acknowledgements waiting to be sent, at exit
STALLED = 30.0  # seconds without a main-loop round before /healthz says the daemon is not alive
# The main loop sleeps until its next chore is due (or a worker process's restart), and at
# most this long: so often it looks for worker processes that exited.
LOOP_AT_MOST = 1.0
M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


@dataclass(frozen=True)
class Settings:
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


class Service(Protocol):
    """Something else the daemon process serves, started and stopped with it (the HTTP
    server of `jobrunner.web`, handed in by `cli/run.py`)."""

    def start(self, host: Daemon) -> None:
        """Start serving; an `OSError` (an address in use) stops the daemon with its message."""
        ...

    def stop(self) -> None: ...


def few_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before the daemon starts its threads.

    glibc gives each thread that allocates an arena of its own, up to eight per core; a
    daemon's twenty-odd threads, idle most of the time, then hold about 4 MB of RSS in
    them. Two are plenty for threads that mostly wait. An operator's MALLOC_ARENA_MAX wins;
    on a C library without mallopt this does nothing.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas)


def run(
    settings: Settings, registry: Registry | None = None, services: Sequence[Service] = ()
) -> int:
    """Run a daemon until it is stopped; the process exit status."""
    few_malloc_arenas()
    signals, notifier = Signals(), Notifier()
    signals.install()
    workers.die_with_parent()  # a worker process of another daemon stops when it does
    daemon_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    event(
        logging.INFO,
        "daemon starting",
        daemon=daemon_id,
        role=settings.role,
        storage=redact(settings.storage),
        jobs=str(settings.jobs_dir),
    )
    if settings.keys is None and not local(settings.storage):
        event(
            logging.WARNING,
            "no signing key for a storage other hosts can reach: whoever can write to it "
            "can make this daemon run commands; set JOBRUNNER_SIGNING_KEY (docs/security.md)",
            storage=redact(settings.storage),
        )
    refused = (
        strict_mode.directory(settings.jobs_dir) if strict_mode.applies(settings.strict) else None
    )
    if refused:
        event(logging.ERROR, f"not starting: {refused}")
        return 1
    storage = connect(settings.storage, settings.keys, signals, notifier)
    if storage is None:
        return 0  # stopped while waiting for the storage
    daemon = build(settings, storage, registry or discover(), signals, notifier, daemon_id)
    return daemon.serve(services)


def local(url: str) -> bool:
    """Whether only this host can reach the storage: SQLite, or Redis on loopback (every
    host of a redis+cluster:// or redis+sentinel:// list)."""
    if not url.lower().startswith(("redis:", "rediss:", "redis+", "rediss+")):
        return True
    hosts = urlsplit(url).netloc.rpartition("@")[2].split(",")
    return all(loopback(host) for host in hosts)


def loopback(host: str) -> bool:
    """Whether `host` (name, name:port, [v6]:port) is this machine's loopback."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or "]:" in host else host
    name = name.strip("[]").lower()
    return name in ("localhost", "::1") or name.startswith("127.")


def connect(url: str, keys: Keys | None, signals: Signals, notifier: Notifier) -> Storage | None:
    """The storage, once it answers (retried with backoff); None if stopped first."""
    delay = 0.5
    while not signals.stops:
        try:
            storage = open_storage(url, keys, from_environment=False)
            storage.stats()
            return storage
        except StorageError as exc:
            event(logging.ERROR, "storage unreachable, retrying", error=str(exc), retry_in=delay)
            notifier.status(f"storage unreachable, retrying in {delay:g}s")
            signals.wakeup.wait(delay)
            delay = min(delay * 2, 30.0)
    return None


def build(
    settings: Settings,
    storage: Storage,
    registry: Registry,
    signals: Signals,
    notifier: Notifier,
    daemon_id: str,
) -> Daemon:
    """A daemon for `settings` on a connected storage, its parts chosen by its role."""
    in_force = InForce()
    alert = Alerter(storage, lambda: in_force.config)  # the alerts in force, per event
    pool = None
    if settings.role in ("all", "worker"):
        plugins = Plugins(registry)
        pool = Pool(
            storage,
            daemon_id,
            in_force.lane,
            plugins,
            settings.lease_for,
            in_force.origin,
            alert,
            threads=settings.threads,
        )
    scheduler = None
    if settings.role in ("all", "scheduler"):
        scheduler = Scheduler(storage, daemon_id, alert=alert)
    runtime = Runtime(pool, scheduler, settings.queues)
    strict = strict_mode.applies(settings.strict)
    reloader = Reloader(
        storage, registry, settings.jobs_dir, in_force, runtime, strict=strict, alert=alert
    )
    return Daemon(
        settings, daemon_id, storage, in_force, runtime, reloader, signals, notifier, alert
    )


class Daemon:
    def __init__(
        self,
        settings: Settings,
        daemon_id: str,
        storage: Storage,
        in_force: InForce,
        runtime: Runtime,
        reloader: Reloader,
        signals: Signals,
        notifier: Notifier,
        alert: Alerter | None = None,
    ) -> None:
        self.settings, self.id, self.storage = settings, daemon_id, storage
        self.in_force, self.runtime, self.reloader = in_force, runtime, reloader
        self.signals, self.notifier = signals, notifier
        self.upkeep = Upkeep(
            storage,
            daemon_id,
            settings.lease_for,
            in_force,
            self.info,
            buries_orphans=runtime.pool is not None,
            hold=runtime.pool.hold if runtime.pool is not None else None,
            holding=runtime.pool.holding if runtime.pool is not None else list,
            alert=alert,
            shared=workers.parent_pid() is None,  # a worker process leaves them to its daemon
        )
        self._stopped = threading.Event()  # stops the scheduler and the watcher
        self.workers: workers.WorkerProcesses | None = None
        self.saturation: Saturation | None = None  # on demand: when to start the workers
        if settings.processes > 1 and settings.worker_command:
            pool = runtime.pool
            self.workers = workers.WorkerProcesses(
                settings.worker_command,
                settings.worker_env,
                settings.processes - 1,
                on_demand=settings.on_demand and pool is not None,
            )
            if settings.on_demand and pool is not None:
                self.saturation = Saturation(pool)
                pool.feeder.on_pressure = signals.wakeup.set  # looked at at once
        self.idleness: Idleness | None = None  # --exit-when-idle
        if settings.exit_when_idle is not None and runtime.pool is not None:
            self.idleness = Idleness(runtime.pool, settings.exit_when_idle)
        self._loop_beat = time.monotonic()  # the main loop's last round (liveness)

    def serve(self, services: Sequence[Service] = ()) -> int:
        """Load, start, serve until stopped, stop; the process exit status."""
        started: list[Service] = []
        try:
            for service in services:
                service.start(self)
                started.append(service)
            return self._serve()
        except OSError as exc:
            event(logging.ERROR, f"not starting: {exc}")
            return 1
        finally:
            for service in reversed(started):
                service.stop()
            if self.workers is not None:
                self.workers.close()

    def _serve(self) -> int:
        if self.workers is not None:
            self.workers.start()  # they load the files as this one does, at the same time
        prepared = self.reloader.prepare(startup=True)
        if prepared is not None:
            unknown = [q for q in self.settings.queues if q not in prepared.lanes]
            if unknown:
                event(
                    logging.ERROR,
                    f"--queues names unknown queues: {', '.join(unknown)}",
                    known=", ".join(sorted(prepared.lanes)),
                )
                return self._not_started()
            self.reloader.commit(prepared)
        elif self.settings.queues:
            event(logging.ERROR, "--queues names queues, but no configuration is in force")
            return self._not_started()
        scheduler = self.runtime.scheduler
        if scheduler is not None:
            threading.Thread(
                target=scheduler.run, args=(self._stopped,), name="jobrunner-scheduler", daemon=True
            ).start()
        if self.settings.watch:
            watch.start(self.settings.jobs_dir, self.signals.files_changed, self._stopped)
        event(
            logging.INFO,
            "ready",
            daemon=self.id,
            generation=self.in_force.generation,
            queues=", ".join(self.queues()),
            crons=len(self.in_force.config.crons) if scheduler else 0,
        )
        for counter in (self.saturation, self.idleness):
            if counter is not None:
                counter.restart()  # from ready on: the start-up is neither load nor idleness
        self._loop()
        self._shutdown()
        return 0

    def _not_started(self) -> int:
        """Exit status 1, the worker processes (refusing the same start) stopped first."""
        if self.workers is not None:
            self.workers.signal(signal.SIGTERM)
            if not self.workers.wait(WORKERS_EXIT):
                self.workers.kill()
        return 1

    def _loop(self) -> None:
        """Chores, reloads and the systemd watchdog (pinged from here, so a hung loop stops
        the pings and systemd restarts the daemon)."""
        signals = self.signals
        self.notifier.send("READY=1", f"STATUS={self.status_line()}")
        watchdog = self.notifier.watchdog_interval()
        next_ping = next_retry = 0.0
        healthy = self.upkeep.healthy
        while not signals.stops:
            self._loop_beat = time.monotonic()
            if self.workers is not None:  # first: the first chores take a while under load
                if self.saturation is not None and self.saturation.look():
                    self.workers.want()
                self.workers.tick()
            self.upkeep.tick()
            if self.idleness is not None and self.idleness.long_enough():
                idle = self.idleness.limit
                event(logging.INFO, "stopping: no job ran here for a while", idle=idle)
                signals.stops = max(signals.stops, 1)
                break
            if self.upkeep.healthy != healthy:  # systemctl status says so at once
                healthy = self.upkeep.healthy
                self.notifier.send(f"STATUS={self.status_line()}")
            if watchdog is not None and time.monotonic() >= next_ping:
                self.notifier.watchdog()
                next_ping = time.monotonic() + watchdog
            retry = self.reloader.pending and time.monotonic() >= next_retry
            if signals.reload or signals.changed or retry:
                forced, changed = signals.reload, signals.changed
                signals.reload = signals.changed = False
                if self.workers is not None and (forced or changed):
                    # They do not watch the files: this process passes each change on.
                    self.workers.signal(signal.SIGHUP if forced else signal.SIGURG)
                self.notifier.reloading()
                self.reloader.reload(only_if_changed=not forced)
                self.notifier.send("READY=1", f"STATUS={self.status_line()}")
                next_retry = time.monotonic() + RELOAD_RETRY
            wake_at = min(self.upkeep.next_due(), time.monotonic() + LOOP_AT_MOST)
            if self.workers is not None:
                wake_at = min(wake_at, self.workers.next_start())
            if watchdog is not None:
                wake_at = min(wake_at, next_ping)
            if self.reloader.pending:
                wake_at = min(wake_at, next_retry)
            signals.wakeup.wait(wake_at - time.monotonic())

    # -- status ------------------------------------------------------------------

    def queues(self) -> list[str]:
        """The configured queues this daemon works (cron entries' own lanes aside)."""
        pool = self.runtime.pool
        served = pool.names() if pool is not None else []
        return [name for name in served if name in self.in_force.config.queues]

    def info(self) -> dict[str, Any]:
        """What the heartbeat tells `jobrunner status` about this daemon."""
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "parent": int(parent)
            if (parent := os.environ.get(workers.PARENT, "")).isdigit()
            else None,
            "role": self.settings.role,
            "queues": self.queues(),
            "generation": self.in_force.generation,
            "healthy": self.upkeep.healthy,
            "degraded_since": self.upkeep.unhealthy_since,
            "setup_problems": self.setup_problems(),
            "seen": time.time(),
        }

    def setup_problems(self) -> list[dict[str, Any]]:
        """Lanes whose handler could not be set up at their last attempt, with file and line."""
        pool = self.runtime.pool
        found = []
        for name, problem in sorted((pool.setup_problems() if pool else {}).items()):
            lane = self.in_force.lane(name)
            where = {"file": lane.source.file, "line": lane.source.line} if lane else {}
            found.append({"lane": name, **where, "error": problem.error, "since": problem.since})
        return found

    def access(self) -> Mapping[str, Access]:
        """The `access:` entries in force, for the HTTP server's gate."""
        return self.in_force.config.access

    def webhooks(self) -> Mapping[str, Webhook]:
        """The `webhooks:` entries in force, for the HTTP server's webhook routes."""
        return self.in_force.config.webhooks

    def liveness(self) -> list[str]:
        """Why this daemon is not alive and well (for `/healthz`); empty when it is."""
        stalled = time.monotonic() - self._loop_beat
        return [f"the main loop has not run for {stalled:.0f}s"] if stalled > STALLED else []

    def readiness(self) -> list[str]:
        """Why this daemon should get no traffic now (for `/readyz`); empty when ready."""
        why = []
        if self.in_force.view is None:
            why.append("no configuration loaded yet")
        if self.upkeep.unhealthy_since is not None:
            since = datetime.fromtimestamp(self.upkeep.unhealthy_since, UTC)
            why.append(f"storage unreachable since {since:%Y-%m-%d %H:%M:%S} UTC")
        if self._stopped.is_set():
            why.append("stopping")
        return why

    def status_line(self) -> str:
        """One line for `systemctl status`."""
        since = self.upkeep.unhealthy_since
        health = (
            "healthy"
            if since is None
            else "degraded: storage unreachable since "
            + datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        )
        crons = len(self.in_force.config.crons) if self.runtime.scheduler else 0
        return (
            f"generation {self.in_force.generation}, {len(self.queues())} queues served, "
            f"{crons} cron entries, {health}"
        )

    # -- stopping -------------------------------------------------------------

    def _shutdown(self) -> None:
        self.notifier.stopping()
        grace = self.settings.grace
        event(logging.INFO, "stopping: running jobs may finish", grace=grace)
        self._stopped.set()
        if self.workers is not None:
            self.workers.signal(signal.SIGTERM)  # they stop as this one does, with its grace
        pool, scheduler = self.runtime.pool, self.runtime.scheduler
        if scheduler is not None:
            scheduler.wakeup.set()
        if pool is not None:
            pool.stop_all()
        deadline = time.monotonic() + grace
        threads = pool.threads() if pool is not None else []
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            if self.signals.stops > 1:
                event(logging.WARNING, "second signal: exiting now")
                if self.workers is not None:
                    self.workers.signal(signal.SIGTERM)  # their second: they exit now too
                self._hand_back(sum(t.is_alive() for t in threads), "a second stop signal")
                raise SystemExit(1)  # exit handlers still run (the shell plugin's kills)
            self.signals.wakeup.wait(0.05)
        self._hand_back(sum(t.is_alive() for t in threads), f"--grace {grace:g}s ran out")
        if self.workers is not None:
            left = max(0.0, deadline - time.monotonic()) + WORKERS_EXIT
            if not self.workers.wait(left):
                event(logging.ERROR, "worker processes did not stop: killing them")
                self.workers.kill()

    def _hand_back(self, unfinished: int, cause: str) -> None:
        """Give back what this daemon holds: running jobs with an `interrupted` attempt."""
        handed, pool = 0, self.runtime.pool
        if pool is not None:
            pool.settle_finished(SETTLE_AT_EXIT)  # before release: a finished job stays done
        if unfinished and pool is not None:
            why = f"daemon {self.id} stopped before the attempt finished ({cause})"
            handed = pool.hand_back_running(why)
        try:
            released = handed + self.storage.release(self.id)
            if self.upkeep.survey is not None:
                self.upkeep.survey.leaving()  # so that no other daemon reports it lost
            self.storage.leave(self.id)
        except StorageError as exc:
            event(
                logging.ERROR, "could not hand jobs back; their leases will expire", error=str(exc)
            )
            return
        event(logging.INFO, "stopped", unfinished=unfinished, handed_back=released)
