"""Python's cycle collector, held off while job files are loaded.

A load makes some two million small objects (values, paths, positions) that
all stay alive, and the collector, which runs every few hundred allocations,
would scan them again and again: a third of a cold load's time. They hold no
cycles, so there is nothing for it to free.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused(*, freeze: bool = False) -> Iterator[None]:
    """Run the block without the collector; it resumes afterwards if it ran before.

    `freeze=True` is for a command that ends soon after: what the block made
    is moved out of the collector's sight for good, so its first run after
    the block does not have to scan it (0.2 s after a thousand files).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()
