"""Acknowledging finished jobs in batches: one storage round trip for many.

A worker thread that finished a job hands its acknowledgement here (`ack`) and
takes its next job at once. One thread sends what was handed in, in one
`Storage.ack_many`, as soon as BATCH are waiting or FLUSH_AFTER after the oldest
was handed in, whichever comes first; then it reports each answer to the
callback given with it (the job's log line and metrics, written once its
settlement is stored, as before). Until its ack is stored a job stays leased to
this daemon: if the process dies first, the job runs again (at least once, never
lost). The daemon flushes (`close`) before it releases its leases at exit.

While the storage is unreachable the batch is sent again with backoff, as a single
settlement is (worker/serve.py), until the daemon stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from jobrunner.logs import event
from jobrunner.storage import Done, Lease, Storage, StorageError

BATCH = 64  # acknowledgements sent together at most
FLUSH_AFTER = 0.002  # seconds an acknowledgement may wait for others to join it
Then = Callable[[bool | None], None]  # told whether the lease was held (None: not stored)


class Acker:
    def __init__(self, storage: Storage, stopping: threading.Event) -> None:
        self.storage, self.stopping = storage, stopping
        self._waiting: list[tuple[Done, Then]] = []
        self._since = 0.0  # when the oldest waiting acknowledgement was handed in
        self._sending = 0  # acknowledgements taken by the sender, not answered yet
        self._sent: list[Lease] = []  # their leases
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="jobrunner-ack", daemon=True)
        self._thread.start()

    def ack(self, done: Done, then: Then) -> None:
        """Store `done` soon, then call `then` with the answer (from the sending thread)."""
        with self._changed:
            if not self._waiting:
                self._since = time.monotonic()
            self._waiting.append((done, then))
            if len(self._waiting) == 1 or len(self._waiting) >= BATCH:
                self._changed.notify_all()

    def leases(self) -> list[Lease]:
        """The leases of the acknowledgements not answered yet (their jobs are still leased)."""
        with self._changed:
            return [done.lease for done, _ in self._waiting] + self._sent

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed in so far is answered; False if `timeout` ran out."""
        with self._changed:
            self._since = 0.0  # send now
            self._changed.notify_all()
            return self._changed.wait_for(lambda: not self._waiting and not self._sending, timeout)

    def close(self, timeout: float) -> None:
        """Send what waits, then stop the sending thread."""
        self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if not self._waiting:
                    return
                while len(self._waiting) < BATCH and not self._closed:
                    left = self._since + FLUSH_AFTER - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
                self._since = time.monotonic()
                self._sending = len(batch)
                self._sent = [done.lease for done, _ in batch]
            answers = self._send([done for done, _ in batch])
            for (_, then), held in zip(batch, answers, strict=True):
                try:
                    then(held)
                except Exception as exc:  # a report must never stop the acknowledgements
                    event(logging.ERROR, "reporting a settled job failed", error=repr(exc))
            with self._changed:
                self._sending, self._sent = 0, []
                self._changed.notify_all()

    def _send(self, batch: list[Done]) -> list[bool | None]:
        """The answers of `ack_many`, retried while the storage is unreachable; None for
        each if the daemon stopped first (the jobs stay leased, and run again)."""
        delay = 0.1
        while True:
            try:
                return list(self.storage.ack_many(batch))
            except StorageError as exc:
                event(logging.ERROR, "storage unreachable, will retry", error=str(exc))
                if self.stopping.wait(delay):
                    return [None] * len(batch)
                delay = min(delay * 2, 5.0)
