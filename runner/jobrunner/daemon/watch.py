"""Watching the jobs directory: any change asks for a reload (debounced)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from jobrunner.logs import event


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
    """Editors' renames and Kubernetes' ConfigMap symlink swaps included."""
    import watchfiles

    try:
        for changes in watchfiles.watch(
            jobs_dir,
            watch_filter=None,
            debounce=200,
            step=50,
            rust_timeout=200,
            yield_on_timeout=True,
            stop_event=stop,
            raise_interrupt=False,
        ):
            first = not watching.is_set()
            watching.set()  # the first yield: the watch is in place
            if changes or first:  # the first: catch up on edits made while it was set up
                changed()
    except (OSError, RuntimeError) as exc:
        event(logging.ERROR, "cannot watch the jobs directory: reload with SIGHUP", error=str(exc))
