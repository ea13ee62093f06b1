"""Signals as flags: the handlers only count stops and ask for reloads; the main loop acts."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from types import FrameType


@dataclass
class Signals:
    stops: int = 0  # SIGTERM / SIGINT received; a second one exits at once
    reload: bool = False  # SIGHUP: reload now
    changed: bool = False  # the file watcher (in a worker process: the daemon) saw a change
    event: threading.Event = field(default_factory=threading.Event)  # wakes the main loop

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
        self.event.set()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stops += 1
        self.event.set()

    def _on_changed(self, signum: int, frame: FrameType | None) -> None:
        self.files_changed()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True
        self.event.set()
