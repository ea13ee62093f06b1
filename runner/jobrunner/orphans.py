"""Children that die with the daemon: no command outlives the process that started it.

A command runs in a session of its own (so a timeout kills its whole group),
which also means nobody kills it when the daemon is SIGKILLed: it would go on
beside the copy of its job delivered again. On Linux, `bound_to_parent` is a
`preexec_fn` that asks the kernel to SIGKILL the child when the thread that
started it ends (`PR_SET_PDEATHSIG`); elsewhere it is None. Part of the plugin
API (`jobrunner.plugin`), for plugins that start processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def bound_to_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child die with its parent, or None where it cannot."""
    prctl = _PRCTL
    if prctl is None or not hasattr(os, "getppid"):
        return None
    parent = os.getpid()

    def bind() -> None:  # runs in the child between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the call took effect
            os._exit(1)

    return bind
