"""The daemon: connect, load the job files, serve lanes and fire ticks, reload, stop cleanly.

Signal handlers only set flags; the main loop acts on them. SIGTERM or SIGINT
stops taking jobs and firing ticks and lets running jobs finish for up to
`grace` seconds; what has not finished by then is handed back to its queue.
A second signal exits at once. SIGHUP and any change under the jobs
directory reload: load → validate → plan → apply (see `reload`). A lost
storage connection is retried with backoff while the daemon keeps running
and reports itself unhealthy.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from jobrunner import config as config_mod
from jobrunner.config.model import Config
from jobrunner.daemon.notify import Notifier
from jobrunner.daemon.upkeep import Upkeep
from jobrunner.logs import event
from jobrunner.registry import Registry, discover
from jobrunner.reload import plan as reconcile
from jobrunner.reload import publish, quarantine
from jobrunner.reload.provenance import git_commit
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, StorageError, open_storage, redact
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.lane import Lane, lanes
from jobrunner.worker.pool import Pool

LAST_GOOD = "last-good-files"
PROBLEMS = "problems"


@dataclass(frozen=True)
class Settings:
    jobs_dir: Path = Path("jobs.d")
    storage: str = "sqlite:///.jobrunner/state.db"
    role: str = "all"
    queues: tuple[str, ...] = ()  # empty: every lane
    grace: float = 30.0
    lease_for: float = 30.0
    watch: bool = True


@dataclass
class _Flags:
    stops: int = 0
    reload: bool = False
    event: threading.Event = field(default_factory=threading.Event)

    def raise_(self) -> None:
        self.event.set()


class Daemon:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or discover()
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.flags = _Flags()
        self.config = Config()
        self.generation = 0
        self.in_force: dict[str, bytes] = {}
        self.commit: str | None = None
        self.lanes: dict[str, Lane] = {}
        self.storage: Storage | None = None
        self.pool: Pool | None = None
        self.scheduler: Scheduler | None = None
        self.upkeep: Upkeep | None = None
        self._stopped = threading.Event()  # stops the scheduler and the watcher
        self.notifier = Notifier()

    # -- signals -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.flags.stops += 1
        self.flags.raise_()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.flags.reload = True
        self.flags.raise_()

    # -- lifecycle -----------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the process exit status."""
        event(
            logging.INFO,
            "daemon starting",
            daemon=self.id,
            role=self.settings.role,
            storage=redact(self.settings.storage),
            jobs=str(self.settings.jobs_dir),
        )
        self.storage = self._connect()
        if self.storage is None:
            return 0  # stopped while waiting for the storage
        self.upkeep = Upkeep(self)
        self.reload(startup=True)
        unknown = [q for q in self.settings.queues if q not in self.lanes]
        if unknown:
            event(
                logging.ERROR,
                f"--queues names unknown queues: {', '.join(unknown)}",
                known=", ".join(sorted(self.lanes)),
            )
            return 1
        if self.settings.role in ("all", "worker"):
            self.pool = Pool(
                self.storage,
                self.id,
                self.lane,
                Plugins(self.registry),
                self.settings.lease_for,
                self.origin,
            )
            self._sync_lanes()
        if self.settings.role in ("all", "scheduler"):
            self._start_scheduler()
        if self.settings.watch:
            self._start_watcher()
        event(
            logging.INFO,
            "ready",
            daemon=self.id,
            generation=self.generation,
            queues=", ".join(self.pool.names()) if self.pool else "",
            crons=len(self.config.crons) if self.scheduler else 0,
        )
        self._serve()
        self._shutdown()
        return 0

    def _connect(self) -> Storage | None:
        delay = 0.5
        while not self.flags.stops:
            try:
                storage = open_storage(self.settings.storage)
                storage.stats()
                return storage
            except StorageError as exc:
                event(
                    logging.ERROR, "storage unreachable, retrying", error=str(exc), retry_in=delay
                )
                self.notifier.status(f"storage unreachable, retrying in {delay:g}s")
                self.flags.event.wait(delay)
                delay = min(delay * 2, 30.0)
        return None

    def _start_scheduler(self) -> None:
        assert self.storage is not None
        self.scheduler = Scheduler(self.storage, self.id)
        self.scheduler.apply(self.config, self.generation)
        threading.Thread(
            target=self.scheduler.run,
            args=(self._stopped,),
            name="jobrunner-scheduler",
            daemon=True,
        ).start()

    def _start_watcher(self) -> None:
        watching = threading.Event()
        threading.Thread(
            target=self._watch, args=(watching,), name="jobrunner-watch", daemon=True
        ).start()
        watching.wait(5.0)  # "ready" only once a change cannot slip by unnoticed

    def _watch(self, watching: threading.Event) -> None:
        """Reload on any change under the jobs directory (debounced; editors' renames and
        Kubernetes' ConfigMap symlink swaps included)."""
        import watchfiles

        try:
            for changes in watchfiles.watch(
                self.settings.jobs_dir,
                watch_filter=None,
                debounce=200,
                step=20,
                rust_timeout=200,
                yield_on_timeout=True,
                stop_event=self._stopped,
                raise_interrupt=False,
            ):
                first = not watching.is_set()
                watching.set()  # the first yield: the watch is in place
                if changes or first:  # the first: catch up on edits made while it was set up
                    self.flags.reload = True
                    self.flags.raise_()
        except (OSError, RuntimeError) as exc:
            event(
                logging.ERROR, "cannot watch the jobs directory: reload with SIGHUP", error=str(exc)
            )

    def _serve(self) -> None:
        """The main loop: chores, reloads and the systemd watchdog (pinged from here, so a
        hung loop stops the pings and systemd restarts the daemon)."""
        assert self.upkeep is not None
        self.notifier.send("READY=1", f"STATUS={self.status_line()}")
        watchdog = self.notifier.watchdog_interval()
        next_ping = 0.0
        while not self.flags.stops:
            self.upkeep.tick()
            if watchdog is not None and time.monotonic() >= next_ping:
                self.notifier.watchdog()
                next_ping = time.monotonic() + watchdog
            if self.flags.reload:
                self.flags.reload = False
                self.notifier.reloading()
                self.reload()
                self.notifier.send("READY=1", f"STATUS={self.status_line()}")
            self.flags.event.wait(0.2)
            self.flags.event.clear()

    # -- reload ---------------------------------------------------------------

    def reload(self, *, startup: bool = False) -> None:
        """Load → validate → plan → apply; a bad file keeps its last good version."""
        assert self.storage is not None
        try:
            last_good = self._last_good()
            on_disk = config_mod.read([self.settings.jobs_dir])
        except (StorageError, config_mod.PathNotFound, OSError) as exc:
            event(logging.ERROR, "reload failed, the configuration in force stays", error=str(exc))
            return
        verdict = quarantine.judge(
            on_disk, last_good, now=datetime.now(UTC), registry=self.registry
        )
        for problem in verdict.problems:
            event(
                logging.ERROR if problem.severity == "error" else logging.WARNING,
                f"{problem.file}:{problem.line}:{problem.column}: {problem.severity}: "
                f"{problem.path + ': ' if problem.path else ''}{problem.message}",
                code=problem.code,
            )
        self._record_problems(verdict)
        if verdict.refused:
            event(
                logging.ERROR,
                "change refused: the files do not validate together; "
                "the configuration in force stays",
                files=", ".join(verdict.left_out),
            )
            return
        if verdict.summary():
            event(
                logging.WARNING,
                verdict.summary()
                if not startup
                else "started with the last good version of files that fail now: "
                + verdict.summary(),
            )
        self._apply(verdict.loaded.config, verdict.texts)

    def _last_good(self) -> dict[str, bytes]:
        assert self.storage is not None
        if self.in_force:
            return self.in_force
        stored = self.storage.get_value(LAST_GOOD) or {}
        return {name: text.encode() for name, text in stored.items()}

    def _apply(self, new: Config, texts: dict[str, bytes]) -> None:
        assert self.storage is not None
        previous = self.storage.published()
        stored_generation = int((previous or {}).get("generation", 0))
        change = reconcile.plan(previous, publish.document(new, stored_generation))
        digest = publish.content_hash(new)
        if (previous or {}).get("hash") != digest:
            self.generation = stored_generation + 1
            self.storage.publish(publish.document(new, self.generation))
        else:
            self.generation = stored_generation
        self.config, self.lanes, self.in_force = new, lanes(new), texts
        self.commit = git_commit(self.settings.jobs_dir)
        self.storage.set_value(LAST_GOOD, {n: t.decode() for n, t in texts.items()})
        self._sync_lanes()
        if self.scheduler is not None:
            self.scheduler.apply(new, self.generation)
        for line in map(str, change.changes):
            event(logging.INFO, f"plan: {line}", generation=self.generation, commit=self.commit)
        event(
            logging.INFO,
            "configuration in force",
            generation=self.generation,
            hash=digest,
            queues=len(new.queues),
            crons=len(new.crons),
            changes=len(change.changes),
        )

    def origin(self) -> dict[str, Any]:
        """Provenance recorded with every run: the generation and Git commit in force."""
        return {"generation": self.generation, "commit": self.commit}

    def lane(self, name: str) -> Lane | None:
        """The lane in force now (workers look it up per job, so a reload applies at once)."""
        return self.lanes.get(name)

    def _sync_lanes(self) -> None:
        if self.pool is None:
            return
        chosen = self.settings.queues or tuple(self.lanes)
        self.pool.sync(self.lanes[name] for name in chosen if name in self.lanes)

    def _record_problems(self, verdict: quarantine.Verdict) -> None:
        assert self.storage is not None
        self.storage.set_value(
            PROBLEMS,
            {
                "problems": [p.as_dict() for p in verdict.problems],
                "quarantined": list(verdict.quarantined),
                "left_out": list(verdict.left_out),
                "refused": verdict.refused,
                "checked": time.time(),
            },
        )

    # -- status ------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "role": self.settings.role,
            "queues": self.pool.names() if self.pool else [],
            "generation": self.generation,
            "healthy": self.upkeep.healthy if self.upkeep else False,
            "seen": time.time(),
        }

    # -- stopping -------------------------------------------------------------

    def status_line(self) -> str:
        """One line for `systemctl status`."""
        health = "healthy" if self.upkeep is None or self.upkeep.healthy else "storage unreachable"
        serving = len(self.pool.names()) if self.pool else 0
        crons = len(self.config.crons) if self.scheduler else 0
        return (
            f"generation {self.generation}, {serving} queues served, {crons} cron entries, {health}"
        )

    def _shutdown(self) -> None:
        self.notifier.stopping()
        grace = self.settings.grace
        event(logging.INFO, "stopping: running jobs may finish", grace=grace)
        self._stopped.set()
        if self.scheduler is not None:
            self.scheduler.wakeup.set()
        if self.pool is not None:
            self.pool.stop_all()
        deadline = time.monotonic() + grace
        threads = self.pool.threads() if self.pool else []
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            if self.flags.stops > 1:
                event(logging.WARNING, "second signal: exiting now")
                self._hand_back(sum(t.is_alive() for t in threads))
                raise SystemExit(1)  # exit handlers still run (the shell plugin's kills)
            self.flags.event.wait(0.05)
        self._hand_back(sum(t.is_alive() for t in threads))

    def _hand_back(self, unfinished: int) -> None:
        if self.storage is None:
            return
        try:
            released = self.storage.release(self.id)
            self.storage.leave(self.id)
        except StorageError as exc:
            event(
                logging.ERROR, "could not hand jobs back; their leases will expire", error=str(exc)
            )
            return
        event(logging.INFO, "stopped", unfinished=unfinished, handed_back=released)
