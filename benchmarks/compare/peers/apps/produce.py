"""A producer process: `python produce.py SYSTEM COUNT [SECONDS]`.

Enqueues COUNT no-op jobs one at a time through SYSTEM's own client API
(`SYSTEM_app.enqueue`) and notes its rate on the tally (`tally.alone`: with no
worker running, what one producer does alone), or with SECONDS, as many as it
can until that time is up (COUNT is then ignored). Runs in a process of its
own, so no system's client shares an interpreter with another's, nor with the
harness.
"""

from __future__ import annotations

import importlib
import sys
import time

import tally


def main() -> None:
    system, count = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else None
    enqueue = importlib.import_module(f"{system}_app").enqueue
    if seconds is None:
        enqueue()  # the client's connection and set-up, not timed
        start = time.perf_counter()
        for _ in range(count - 1):
            enqueue()
        tally.alone((count - 1) / (time.perf_counter() - start) if count > 1 else 0.0)
        return
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(50):
            enqueue()
        tally.enqueued(50)


if __name__ == "__main__":
    main()
