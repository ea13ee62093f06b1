"""Memory limits of child processes: a policy's `memory_limit` as RLIMIT_AS.

`child_setup(memory_limit)` is the `preexec_fn` of a child process a worker
or a plugin starts: the child dies with the daemon (`orphans.bound_to_parent`)
and, given a limit in bytes, cannot map more address space than that, so an
allocation past it fails inside the child: a Python child raises MemoryError,
most programs exit with an error, some die of SIGSEGV or SIGABRT. The limit is
set as both the soft and the hard limit, so the handler cannot lift it. Part of
the plugin API (`jobrunner.plugin`).
"""

from __future__ import annotations

import resource
from collections.abc import Callable

from jobrunner.orphans import bound_to_parent


def child_setup(memory_limit: int | None = None) -> Callable[[], None] | None:
    """A `preexec_fn`: the child dies with its parent and maps at most `memory_limit` bytes."""
    bind = bound_to_parent()
    if memory_limit is None:
        return bind
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
    setrlimit, kind = resource.setrlimit, resource.RLIMIT_AS

    def setup() -> None:  # runs in the child between fork and exec: no imports, no locks
        if bind is not None:
            bind()
        setrlimit(kind, (limit, limit))

    return setup
