"""Signals as flags: the handlers only count stops and ask for reloads; the main loop acts."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
from dataclasses import dataclass, field
from types import FrameType


class Wakeup:
    """What the main loop sleeps on, set by signal handlers and by other threads.

    Not a `threading.Event`: its methods hold a lock while they run, and a signal handler
    runs on the main thread between any two bytecodes, also inside those methods; a
    handler's `set()` then waits for the lock its own thread holds, for ever (a worker
    process hung that way ignored every SIGTERM). A pipe needs no lock: `set` writes a
    byte (a full pipe is set already), `wait` polls it and drains it.

    `wait` consumes the wake-up: a caller that sleeps on it again sleeps, whatever woke
    it before (a SIGHUP during the storage's outage once made the retry loop spin).
    Waking is only a hint: what to do is in `Signals`' flags, read after each wait.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()  # not select(): no limit on the descriptor's number
        self._poll.register(self._read, select.POLLIN)

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def wait(self, timeout: float) -> bool:
        """Until set (True, and no longer set) or `timeout` seconds (False)."""
        woken = bool(self._poll.poll(math.ceil(max(0.0, timeout) * 1000)))
        if woken:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 4096):
                    pass
        return woken


@dataclass
class Signals:
    stops: int = 0  # SIGTERM / SIGINT received; a second one exits at once
    reload: bool = False  # SIGHUP: reload now
    changed: bool = False  # the file watcher (in a worker process: the daemon) saw a change
    wakeup: Wakeup = field(default_factory=Wakeup)  # wakes the main loop

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        # A worker process does not watch the files: the daemon that started it passes each
        # change on with SIGURG. Its default action is to ignore it, so one that comes
        # before this handler is harmless: the first load comes after it, reading the files.
        signal.signal(signal.SIGURG, self._on_changed)

    def files_changed(self) -> None:
        self.changed = True
        self.wakeup.set()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stops += 1
        self.wakeup.set()

    def _on_changed(self, signum: int, frame: FrameType | None) -> None:
        self.files_changed()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True
        self.wakeup.set()
