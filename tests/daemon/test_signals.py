"""Signal handlers only set flags and wake the main loop: safe whenever a signal comes.

A signal handler runs on the main thread between any two bytecodes, also while the main
thread itself is inside the wake-up's own code. A `threading.Event` there takes a lock
that the handler's `set()` then waits for, on the same thread, for ever: a worker
process found hung that way in `_shutdown` had ignored SIGTERM for an hour.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from jobrunner.daemon.notify import Notifier
from jobrunner.daemon.signals import Signals
from jobrunner.daemon.start import connect

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


def test_a_wake_up_is_consumed_by_the_wait_it_ends() -> None:
    """Whoever sleeps on the wake-up again sleeps: a signal that came once must not turn every
    later wait into a spin (the shutdown loop and the start-up's retries once did)."""
    signals = Signals()
    signals.wakeup.set()
    signals.wakeup.set()
    assert signals.wakeup.wait(5.0) is True
    start = time.monotonic()
    assert signals.wakeup.wait(0.2) is False
    assert time.monotonic() - start >= 0.15


def test_a_reload_signal_during_a_storage_outage_keeps_the_retry_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A SIGHUP (or a file change) while the daemon waits for its storage at start-up wakes
    the wait once; the retries keep their backoff (0.5 s, then 1 s) instead of hammering the
    storage and the log."""
    with socket.socket() as unused:  # a port nothing listens on: refused at once
        unused.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{unused.getsockname()[1]}/0"
    signals = Signals()
    signals.wakeup.set()  # as SIGHUP's handler does
    got: list[object] = []

    def wait_for_storage() -> None:
        got.append(connect(url, None, signals, Notifier()))

    with caplog.at_level(logging.ERROR, logger="jobrunner"):
        waiting = threading.Thread(target=wait_for_storage)
        waiting.start()
        time.sleep(1.2)
        signals.stops = 1
        signals.wakeup.set()
        waiting.join(10)
    assert got == [None]
    tries = [r for r in caplog.records if r.getMessage() == "storage unreachable, retrying"]
    assert 1 <= len(tries) <= 3, len(tries)
