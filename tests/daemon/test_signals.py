"""Signal handlers only set flags and wake the main loop: safe whenever a signal comes.

A signal handler runs on the main thread between any two bytecodes, also while the main
thread itself is inside the wake-up's own code. A `threading.Event` there takes a lock
that the handler's `set()` then waits for, on the same thread, for ever: a worker
process found hung that way in `_shutdown` had ignored SIGTERM for an hour.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PELTED = textwrap.dedent(
    """
    import os, signal, threading, time
    from jobrunner.daemon.signals import Signals

    signals = Signals()
    signals.install()
    stop = threading.Event()

    def pelt():  # what a burst of SIGURG (file changes) and SIGHUP does to a process
        while not stop.is_set():
            os.kill(os.getpid(), signal.SIGURG)
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.0001)  # handlers run one at a time, not nested a thousand deep

    threading.Thread(target=pelt, daemon=True).start()
    end = time.monotonic() + 2.0
    while time.monotonic() < end:  # the main loop's own use of the wake-up, fast
        signals.wakeup.set()
        signals.wakeup.wait(0)
        signals.wakeup.clear()
    stop.set()
    assert signals.reload and signals.changed
    print("still running")
    """
)


def test_a_burst_of_signals_never_deadlocks_the_main_loop() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", PELTED], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("the process hung: a signal handler waited for itself") from exc
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "still running"
