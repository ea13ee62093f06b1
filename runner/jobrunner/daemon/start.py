"""How a daemon starts: malloc arenas capped, signals installed, the job files' directory
checked, the storage waited for, and the parts its role needs built (`run`, `build`).

`run` connects first, then builds the daemon from connected parts: nothing in a
`Daemon` (process.py) is ever missing or waiting to be set.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from jobrunner.alerts.deliver import Alerter
from jobrunner.daemon import workers
from jobrunner.daemon.notify import Notifier
from jobrunner.daemon.process import Daemon, Service
from jobrunner.daemon.settings import Settings
from jobrunner.daemon.signals import Signals
from jobrunner.logs import event
from jobrunner.registry import Registry, discover
from jobrunner.reload import strict as strict_mode
from jobrunner.reload.apply import Runtime
from jobrunner.reload.cycle import Reloader
from jobrunner.reload.in_force import InForce
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, StorageError, open_storage, redact
from jobrunner.storage.signing import Keys
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.pool import Pool

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


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
