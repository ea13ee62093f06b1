"""The daemon: load the job files, serve lanes and fire ticks, reload, stop cleanly.

Signal handlers only set flags (signals.py); the main loop acts on them.
SIGTERM or SIGINT stops taking jobs and firing ticks and lets running jobs
finish for up to `grace` seconds; what has not finished by then is handed
back to its queue. A second signal exits at once. SIGHUP and any change under
the jobs directory reload (reload/cycle.py). A lost storage connection is
retried with backoff while the daemon keeps running and reports itself
unhealthy.

start.py connects first, then builds a `Daemon` from connected parts: nothing in
one is ever missing or waiting to be set.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from jobrunner.alerts.deliver import Alerter
from jobrunner.config.model import Access, Webhook
from jobrunner.daemon import watch, workers
from jobrunner.daemon.demand import Idleness, Saturation
from jobrunner.daemon.notify import Notifier
from jobrunner.daemon.settings import Settings
from jobrunner.daemon.signals import Signals
from jobrunner.daemon.upkeep import Upkeep
from jobrunner.logs import event
from jobrunner.reload.apply import Runtime
from jobrunner.reload.cycle import Reloader
from jobrunner.reload.in_force import InForce
from jobrunner.storage import Storage, StorageError

RELOAD_RETRY = 2.0  # seconds between tries of a reload that the storage failed
WORKERS_EXIT = 15.0  # seconds past the grace for worker processes to hand their jobs back
SETTLE_AT_EXIT = 10.0  # seconds to store the acknowledgements waiting to be sent, at exit
STALLED = 30.0  # seconds without a main-loop round before /healthz says the daemon is not alive
# The main loop sleeps until its next chore is due (or a worker process's restart), and at
# most this long: so often it looks for worker processes that exited.
LOOP_AT_MOST = 1.0


class Service(Protocol):
    """Something else the daemon process serves, started and stopped with it (the HTTP
    server of `jobrunner.web`, handed in by `cli/run.py`)."""

    def start(self, host: Daemon) -> None:
        """Start serving; an `OSError` (an address in use) stops the daemon with its message."""
        ...

    def stop(self) -> None: ...


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
