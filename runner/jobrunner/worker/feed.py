"""Leasing for every lane of a daemon process: one fetcher, one storage call a round.

Worker threads never ask the storage for work: they take leases from the lanes'
buffers kept here (`take`), round robin over the lanes that hold a lease and have
a free place within their concurrency. One fetcher thread fills the buffers: in
one round trip (`Storage.lease_many`) it asks, for every lane with room, as many
jobs as the lane may run at once plus as many again to start next, and learns
from the same call when each lane may have more (`Found.due_in`).

A lane whose jobs are quick (QUICK on average, of its recent ones) holds as
many to start next as its threads would start in the next AHEAD seconds (by
that average), at least its concurrency less one and at most DEEPEST times its
concurrency in all: a round trip then starts many jobs, the buffer does not run
dry while the next lease waits its turn for the GIL, and a job waits in the
buffer, where other daemons cannot take it, about AHEAD seconds at most (or
one job's run time, when that is longer). A lane of slower jobs holds one fewer
than it may run at once, and a lane that runs one job at a time holds none it
has not started (the next one can still be cancelled outright, or run by
another daemon).

A lane that found nothing is not asked again until its queue is signalled (an
enqueue, a retry or delay come due, a resume: `Storage.woken`), its first
scheduled job is due, or, should a job have come without a signal, the resync
finds its queue holding one: every RESYNC seconds one call (`Storage.holding`)
looks at every quiet lane's queue at once. An idle daemon with a thousand lanes
thus makes one call for them all every ten seconds, and a busy one makes one
call per round for all its lanes, not one per worker thread. The listener
thread leases at once for a signalled lane, so a new job does not wait for the
fetcher's round, unless the lane rests: a lease that emptied a lane's queue is not
followed by another for it within REST, so the jobs of a trickle are leased several at
a time, and only the first of each such batch sends a signal.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from jobrunner.logs import event
from jobrunner.storage import Lease, Storage, StorageError

# Every lane with room is asked again, signalled or not, every RESYNC seconds, or every
# lane / RESYNC_RATE seconds when longer: a job put in without a signal (a stray writer's,
# a producer of its own) waits that long at most, and a thousand idle lanes cost little.
RESYNC, RESYNC_RATE = 5.0, 100.0
TAKE_WAIT = 60.0  # seconds a worker thread waits in `take` before Huey's loop looks again
RETRY_AFTER = 1.0  # seconds before asking again after the storage failed
LISTEN_WAIT = 1.0  # seconds the listener waits for a signal before it looks at the lanes again
CLOSE_WAIT = 5.0  # the longest close() waits for a lease under way (a socket timeout is 4 s)
QUICK = 0.05  # seconds a lane's jobs run on average, at most, for it to hold more to start next
RAN_WEIGHT = 0.1  # the weight of a job's run time in its lane's moving average
AHEAD = 0.02  # seconds of a quick lane's work held leased, to start next
DEEPEST = 8  # a quick lane holds at most this many times its concurrency, running or not
# Seconds a lane rests after a lease that emptied its queue before it is leased for again:
# jobs that come in a trickle meanwhile are leased together, with one signal, not one
# lease and one signal each. A job waits that much longer at most, and only in a trickle.
REST = 0.002


@dataclass(slots=True)
class Slot:
    """One lane as the feeder keeps it."""

    concurrency: int
    buffer: deque[Lease] = field(default_factory=deque)  # leased, not started
    busy: int = 0  # taken by a worker thread, not finished
    due_at: float = 0.0  # monotonic time from which to ask the storage again
    signalled: bool = False  # its queue was signalled since it was last asked
    leasing: bool = False  # a lease for it is under way (by the fetcher or the listener)
    asked: dict[str, float] = field(default_factory=dict)  # by token: when it was leased
    ran: float = math.inf  # seconds its jobs ran, a moving average (inf: none ran yet)
    rested: float = 0.0  # monotonic time until which it rests after emptying its queue

    def quick(self) -> bool:
        return self.ran <= QUICK and self.concurrency > 1

    def least(self) -> int:
        """The room worth a lease: half its concurrency (one for a lane of one)."""
        return max(1, self.concurrency // 2)

    def wanted(self, now: float) -> bool:
        """Whether the fetcher would lease for it now (`Feeder._wants`): room enough, not being
        leased for nor resting, and signalled or due."""
        return (
            not self.leasing
            and (self.signalled or self.due_at <= now)
            and self.rested <= now
            and self.room() >= self.least()
        )

    def room(self) -> int:
        """How many more jobs to lease: what it may run at once, and one fewer to start next,
        or for quick jobs AHEAD seconds' worth (a lane of one: none to start next)."""
        ahead = self.concurrency - 1
        if self.quick():
            worth = math.ceil(self.concurrency * AHEAD / max(self.ran, 1e-6))
            ahead = min(max(ahead, worth), (DEEPEST - 1) * self.concurrency)
        return self.concurrency + ahead - self.busy - len(self.buffer)


class Feeder:
    """The leases of every lane one daemon process serves, and the thread that takes them."""

    def __init__(
        self,
        storage: Storage,
        owner: str,
        lease_for: float,
        give_back: Callable[[str, list[Lease]], None],
    ) -> None:
        self.storage, self.owner, self.lease_for = storage, owner, lease_for
        self._give_back = give_back  # leases of a lane no longer served, to put back
        self._slots: dict[str, Slot] = {}
        self._stocked: dict[str, None] = {}  # lanes holding leases not started, in turn
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # worker threads wait here for a lease
        self._room = threading.Condition(lock)  # the fetcher waits here for room or a signal
        self._closed = False
        self._threads: list[threading.Thread] = []
        # Pressure, for a daemon's on-demand worker processes (daemon/workers.py): when a
        # lease last left a lane more jobs than it can run at once, and the jobs finished.
        self.pressed, self.finished_jobs = -math.inf, 0
        self.on_pressure: Callable[[], None] | None = None  # called at most once a second

    # -- the lanes served ----------------------------------------------------------

    def serve(self, name: str, concurrency: int) -> None:
        """Serve lane `name` at `concurrency` (again: its concurrency changes, its jobs stay)."""
        with self._changed:
            slot = self._slots.get(name)
            if slot is None:
                self._slots[name] = Slot(concurrency)
            else:
                slot.concurrency = concurrency
            self._changed.notify_all()
            self._room.notify()
        if not self._threads:
            for title, run in (("jobrunner-fetch", self._run), ("jobrunner-listen", self._listen)):
                thread = threading.Thread(target=run, name=title, daemon=True)
                thread.start()
                self._threads.append(thread)

    def drop(self, name: str) -> list[Lease]:
        """Stop serving lane `name`; the leases it held that no worker started."""
        with self._changed:
            slot = self._slots.pop(name, None)
            self._stocked.pop(name, None)
            self._changed.notify_all()
            self._room.notify()
        return list(slot.buffer) if slot else []

    def close(self) -> dict[str, list[Lease]]:
        """Stop leasing and handing out; by lane, the leases no worker started. Waits (up
        to CLOSE_WAIT) for the fetcher and the listener to end, so that no lease is under
        way when the caller closes the storage: one that comes back now is given back."""
        with self._changed:
            self._closed = True
            left = {name: list(slot.buffer) for name, slot in self._slots.items() if slot.buffer}
            for slot in self._slots.values():
                slot.buffer.clear()
            self._stocked.clear()
            self._changed.notify_all()
            self._room.notify_all()  # the fetcher, and the listener if it waits to retry
        self.storage.wake()
        ends = time.monotonic() + CLOSE_WAIT
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, ends - time.monotonic()))
        return left

    def nudge(self) -> None:
        """Wake every worker thread waiting for a lease (some were retired: they leave)."""
        with self._changed:
            self._changed.notify_all()

    def held(self) -> list[Lease]:
        """Leases taken from storage that no worker started yet."""
        with self._changed:
            return [lease for slot in self._slots.values() for lease in slot.buffer]

    # -- worker threads ------------------------------------------------------------

    def take(self, retired: threading.Event) -> tuple[str, Lease, float | None] | None:
        """A lease to run, its lane, and when it was asked for; None after TAKE_WAIT without
        one, once closed, or once `retired` (the worker's consumer is being replaced)."""
        deadline = time.monotonic() + TAKE_WAIT
        with self._changed:
            while not self._closed and not retired.is_set():
                found = self._next()
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
        return None

    def _next(self) -> tuple[str, Lease, float | None] | None:
        """The first lease, in turn over the lanes holding some, that may start now."""
        for name in list(self._stocked):
            slot = self._slots[name]
            if slot.busy < slot.concurrency:
                lease = slot.buffer.popleft()
                slot.busy += 1
                del self._stocked[name]
                if slot.buffer:
                    self._stocked[name] = None  # to the back of the line
                return name, lease, slot.asked.pop(lease.token, None)
        return None

    def finished(self, name: str, ran: float) -> None:
        """A worker thread is done with a job of lane `name` that took `ran` seconds (its
        place is free)."""
        with self._changed:
            slot = self._slots.get(name)
            if slot is not None and slot.busy > 0:
                slot.busy -= 1
                self.finished_jobs += 1
                was = slot.ran if slot.ran != math.inf else ran
                slot.ran = was + RAN_WEIGHT * (ran - was)
                if slot.buffer:
                    self._changed.notify()  # a lease of it that waited for a free place
                if slot.wanted(time.monotonic()):
                    self._room.notify()  # room enough to lease again: wake the fetcher (its
                    # depth may have grown with it, when its jobs turned out quick)

    # -- the fetcher and the listener ------------------------------------------------

    def _run(self) -> None:
        """Lease for the lanes that want jobs and may have some; else sleep until one may.
        At each resync the quiet lanes (no signal, nothing due) are looked at first."""
        resync_at = time.monotonic() + RESYNC
        while True:
            quiet: list[str] = []
            with self._changed:
                if self._closed:
                    return
                now = time.monotonic()
                if now >= resync_at:  # a job may have come without a signal
                    resync_at = now + max(RESYNC, len(self._slots) / RESYNC_RATE)
                    quiet = [
                        n for n, s in self._slots.items() if not s.signalled and s.due_at > now
                    ]
                if not quiet:
                    first = resync_at
                    for slot in self._slots.values():
                        if not (slot.signalled or slot.due_at <= now):
                            first = min(first, slot.due_at)
                        elif slot.rested > now:
                            first = min(first, slot.rested)
                    wants = self._wants(self._slots, now)
                    if not wants:
                        self._room.wait(first - now)
                        continue
            if quiet:
                self._look(quiet)
            else:
                self._lease(wants)

    def _look(self, quiet: list[str]) -> None:
        """Make due the quiet lanes whose queue holds a job all the same: one storage call
        for them all (`Storage.holding`), not a lease each, so idle lanes cost little."""
        try:
            holding = self.storage.holding(quiet)
        except StorageError as exc:
            event(logging.ERROR, "storage unreachable", error=str(exc))
            holding = set(quiet)  # cannot tell: leasing asks each, and waits when it fails
        with self._changed:
            now = time.monotonic()
            for name in holding:
                slot = self._slots.get(name)
                if slot is not None:
                    slot.due_at = min(slot.due_at, now)

    def _wants(self, names: Iterable[str], now: float) -> dict[str, int]:
        """How many jobs to lease now, by lane, for the lanes of `names` that have room and
        may have jobs (signalled, or due); marked as being leased for (called locked)."""
        wants = {}
        for name in names:
            slot = self._slots.get(name)
            if slot is not None and slot.wanted(now):  # else a finished job or a signal wakes us
                wants[name] = slot.room()
                slot.signalled = False  # a signal from now on asks again
                slot.leasing = True
        return wants

    def _listen(self) -> None:
        """Lease for the lanes whose queue was signalled, at once (a new job starts without
        waiting for the fetcher), or mark them for the fetcher when they have no room."""
        since = self.storage.moment()
        while True:
            with self._changed:
                if self._closed:
                    return
                names = list(self._slots)
            try:
                before = since
                since, signalled = self.storage.woken(before, names, LISTEN_WAIT)
                with self._changed:
                    added = self._slots.keys() - set(names)
                if added:  # served meanwhile: their signals since `before` count too
                    signalled |= self.storage.woken(before, added, 0.0)[1]
            except StorageError:
                with self._changed:
                    self._room.wait(RETRY_AFTER)
                continue
            if not signalled:
                continue
            with self._changed:
                if self._closed:  # woken by close(): no lease now
                    return
                now, resting = time.monotonic(), False
                for name in signalled:
                    slot = self._slots.get(name)
                    if slot is not None:
                        slot.signalled = True
                        resting = resting or slot.rested > now
                # Those with no room stay signalled: the job that frees a place wakes the
                # fetcher for them (`finished`), as does the lease under way for them. Those
                # resting are the fetcher's once their rest is over: it reckons again.
                wants = self._wants(signalled, now)
                if resting:
                    self._room.notify()
            if wants:
                self._lease(wants)

    def _lease(self, wants: dict[str, int]) -> None:
        """Lease what `wants` asks (lanes `_wants` marked), and hand the leases out."""
        asked = time.monotonic()
        try:
            found = self.storage.lease_many(wants, self.owner, lease_for=self.lease_for)
        except StorageError as exc:
            event(logging.ERROR, "storage unreachable", error=str(exc))
            found = {}
            with self._changed:
                for name in wants:
                    if name in self._slots:
                        self._slots[name].due_at = asked + RETRY_AFTER
        stray: dict[str, list[Lease]] = {}
        pressed = False
        with self._changed:
            for name in wants:
                if name in self._slots:
                    self._slots[name].leasing = False
            for name, got in found.items():
                slot = self._slots.get(name)
                if slot is None or self._closed:
                    stray[name] = got.leases  # dropped meanwhile: they go back
                    continue
                slot.buffer.extend(got.leases)
                pressed = pressed or len(slot.buffer) + slot.busy > slot.concurrency
                if slot.buffer:
                    self._stocked.setdefault(name, None)
                slot.asked.update((lease.token, asked) for lease in got.leases)
                slot.due_at = math.inf if got.due_in is None else asked + got.due_in
                self._changed.notify(len(got.leases))
            # The fetcher sleeps until the earliest time a lane is due, or a notify. These
            # lanes were left out of its reckoning while being leased for: wake it when one
            # wants a lease now, after its rest, or later (it reckons again), not after every
            # lease (a wake and a round for nothing, once a job, in a steady trickle of jobs).
            now, wake = time.monotonic(), False
            for name, want in wants.items():
                slot = self._slots.get(name)
                if slot is None:
                    continue
                if name not in found or len(found[name].leases) < want:
                    slot.rested = now + REST  # its queue had no more ready: it rests
                wake = wake or slot.wanted(now) or slot.signalled or slot.due_at != math.inf
            if wake:
                self._room.notify()
        for name, leases in stray.items():
            if leases:
                self._give_back(name, leases)
        if pressed:
            now, before = time.monotonic(), self.pressed
            self.pressed = now
            if self.on_pressure is not None and now - before >= 1.0:
                self.on_pressure()
