"""What the harness needs to know of a system: how to start its workers, and its app."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Figures of a system's own: (url, workdir, phase, jobs) -> figures; see Peer.
Extra = Callable[[str, Path, str, int], dict[str, Any]]


def script(name: str) -> str:
    """A console script of the interpreter's environment, even when it is not on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


@dataclass(frozen=True, slots=True)
class Peer:
    """One system as the comparison runs it.

    `app` names the module under apps/ whose `enqueue()` puts one no-op job
    and whose job counts itself on the tally. `workers(url, workdir)` gives the
    command lines of the workers to start (as their own docs start them);
    `prepare(url, workdir)` runs before anything is measured (jobrunner
    publishes its configuration there); `extra` measures figures of the
    system's own while it runs (phase "loaded") and once its workers have
    stopped (phase "stopped").
    """

    name: str
    setup: str  # one line for the report: how the workers run
    app: str
    workers: Callable[[str, Path], list[list[str]]]
    storage: str = "redis"  # redis | sqlite: sqlite has no commands to count
    prepare: Callable[[str, Path], None] | None = None
    extra: Extra | None = None
    needs: tuple[str, ...] = ()  # modules of the `bench` extra it imports
