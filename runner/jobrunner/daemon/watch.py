"""Watching the jobs directory: any change asks for a reload (debounced)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from jobrunner.logs import event

DEBOUNCE_MS = 200  # changes within this long of each other are one reload
# How often the watching thread wakes to look for changes and the stop request: each
# wake-up takes the GIL, and an idle daemon's watcher is most of what it does. A change
# is passed on STEP_MS to 2 x STEP_MS after it (a step to see it, a quiet step to end it).
STEP_MS = 100


def start(jobs_dir: Path, changed: Callable[[], None], stop: threading.Event) -> None:
    """Watch `jobs_dir` in a thread, calling `changed` on changes; return once it watches."""
    watching = threading.Event()
    threading.Thread(
        target=_watch, args=(jobs_dir, changed, stop, watching), name="jobrunner-watch", daemon=True
    ).start()
    watching.wait(5.0)  # "ready" only once a change cannot slip by unnoticed


def _watch(
    jobs_dir: Path, changed: Callable[[], None], stop: threading.Event, watching: threading.Event
) -> None:
    """Editors' renames and Kubernetes' ConfigMap symlink swaps included.

    watchfiles' Rust watcher (its documented lower layer, not `watchfiles.watch`): the
    watch is in place once it is made, so no timeout has to come back to say so, and
    an idle directory never brings the thread back into Python between steps."""
    from watchfiles._rust_notify import RustNotify

    try:
        with RustNotify([str(jobs_dir)], False, _force_polling(), 300, True, False) as watcher:
            watching.set()
            changed()  # catch up on edits made while it was set up
            while not stop.is_set():
                raw = watcher.watch(DEBOUNCE_MS, STEP_MS, 0, stop)
                if raw == "stop":
                    return
                if raw != "signal" and raw != "timeout":  # signals are the main thread's
                    changed()
    except (OSError, RuntimeError) as exc:
        event(logging.ERROR, "cannot watch the jobs directory: reload with SIGHUP", error=str(exc))
    finally:
        watching.set()  # a watch that could not start holds no one up


def _force_polling() -> bool:
    """Poll instead of inotify where watchfiles would (WATCHFILES_FORCE_POLLING set and not
    'false'): for file systems that send no events, such as some network mounts."""
    value = os.environ.get("WATCHFILES_FORCE_POLLING", "")
    return bool(value) and value.lower() not in {"false", "disable", "disabled"}
