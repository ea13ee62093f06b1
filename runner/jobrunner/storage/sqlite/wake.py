"""Noticing other processes' commits to one SQLite database, at no cost while nothing happens.

A commit in WAL mode appends to the `-wal` file. On Linux the watcher blocks
on an inotify watch of that file, so an idle daemon sleeps in one read and a
job enqueued by another process wakes the workers within a millisecond.
`PRAGMA data_version` (which changes when another connection commits) is
still checked every `FALLBACK_SECONDS`, for what inotify cannot see: the WAL
file replaced or not there yet, a file system without inotify, another OS;
while the watch is in place, every `WATCHED_SECONDS` (a commit ends the wait
anyway: this only bounds what a change inotify misses waits). `stop` ends the
wait at once, so closing does not wait it out.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import socket
import sqlite3
import struct
import threading
from collections.abc import Callable
from pathlib import Path

FALLBACK_SECONDS = 0.25  # data_version check, and inotify watch retry, this often
WATCHED_SECONDS = 2.0  # data_version check this often while the inotify watch is in place
# A commit writes the WAL, then publishes itself in the -shm index (a memory map, which
# inotify does not see): after a write, look again a few times until the commit shows.
SETTLE_SECONDS = (0.0005, 0.001, 0.002, 0.004, 0.008)
IN_MODIFY, IN_CLOEXEC, IN_NONBLOCK = 0x2, 0o2000000, 0o4000


class Changes:
    def __init__(
        self,
        path: Path,
        connect: Callable[[], sqlite3.Connection],
        changed: Callable[[], None],
        closed: threading.Event,
    ) -> None:
        self.wal = Path(f"{path}-wal")
        self.connect, self.changed, self.closed = connect, changed, closed
        self._bell, self._ringer = socket.socketpair()  # `stop` ends the inotify wait

    def stop(self) -> None:
        """End the wait under way (call once `closed` is set)."""
        with contextlib.suppress(OSError):  # the watcher ended already
            self._ringer.send(b"x")

    def run(self) -> None:
        """Call `changed` after each commit of another connection, until `closed` is set."""
        db = self.connect()
        last = _version(db)
        notify = _Inotify.open()
        try:
            while not self.closed.is_set():
                written = False
                if notify is not None:
                    notify.watch(self.wal)
                    wait = WATCHED_SECONDS if notify.watching >= 0 else FALLBACK_SECONDS
                    written = notify.wait(wait, self._bell)
                else:
                    self.closed.wait(FALLBACK_SECONDS)
                version = _version(db)
                for pause in SETTLE_SECONDS if written else ():
                    if version != last:
                        break
                    self.closed.wait(pause)
                    version = _version(db)
                if version != last and version is not None:
                    last = version
                    self.changed()
        finally:
            if notify is not None:
                notify.close()
            db.close()
            self._bell.close()
            self._ringer.close()


def _version(db: sqlite3.Connection) -> int | None:
    try:
        return int(db.execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error:
        return None


class _Inotify:
    """The few inotify calls needed, through libc (the standard library has none)."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self.libc, self.fd, self.watching = libc, fd, -1

    @classmethod
    def open(cls) -> _Inotify | None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return None  # not Linux
        return cls(libc, fd) if fd >= 0 else None

    def watch(self, path: Path) -> None:
        """Watch `path` for writes, once it exists (a watch ends when its file is replaced)."""
        if self.watching < 0:
            self.watching = self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_MODIFY)

    def wait(self, timeout: float, bell: socket.socket) -> bool:
        """Until the watched file is written to (True), `timeout`, or `bell` rings; events
        are drained."""
        ready, _, _ = select.select([self.fd, bell.fileno()], [], [], timeout)
        if self.fd not in ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return False
        offset = 0
        while offset + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name
            _, mask, _, size = struct.unpack_from("iIII", data, offset)
            if mask & 0x8000 or mask & 0x400:  # IN_IGNORED, IN_DELETE_SELF: watch again
                self.watching = -1
            offset += 16 + size
        return True

    def close(self) -> None:
        os.close(self.fd)
