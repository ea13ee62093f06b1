"""What every system's no-op job does: count itself, in its own process.

`done()` takes a lock, adds one and notes the time: no round trip, so the job
is as close to a no-op as each system lets it be. A thread per process
(started by its first `done()`, so after any fork) sends what was counted to
a second redis-server, the tally, every `FLUSH` seconds in one script call:
the count, the earliest and the latest completion time of the batch. The
script keeps the earliest completion as `first` and, when the count reaches
BENCH_TOTAL, stamps `last` with the latest completion seen, so the drain is
timed between the first and the N-th job's completion, not their flushes,
without polling and without the workers' start-up. The tally server is not
the measured one: its commands never show in a system's commandstats.

(Until 2026-12-07 each job made one INCR on the tally: a round trip a job,
which in threaded workers cost more than the rest of a no-op job; see
benchmarks/README.md, "Fairness".)
"""

from __future__ import annotations

import os
import threading
import time

import redis

FLUSH = 0.02  # seconds between a process's sends (the drain is timed by completions, not sends)

_ADD = """
local done = redis.call('INCRBY', 'done', ARGV[1])
local first = redis.call('GET', 'first')
if not first or tonumber(ARGV[2]) < tonumber(first) then redis.call('SET', 'first', ARGV[2]) end
local latest = redis.call('GET', 'latest')
if not latest or tonumber(ARGV[3]) > tonumber(latest) then
  latest = ARGV[3]
  redis.call('SET', 'latest', latest)
end
if done == tonumber(ARGV[4]) then redis.call('SET', 'last', latest) end
return done
"""


class _Counter:
    """This process's completions since its last send."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count, self.earliest, self.latest = 0, 0.0, 0.0
        self.tally = redis.Redis.from_url(os.environ["BENCH_TALLY_URL"])
        self.add = self.tally.register_script(_ADD)
        self.total = int(os.environ.get("BENCH_TOTAL", "0"))
        threading.Thread(target=self._send, name="tally", daemon=True).start()

    def done(self) -> None:
        now = time.time()
        with self.lock:
            if not self.count:
                self.earliest = now
            self.count += 1
            self.latest = now

    def _send(self) -> None:
        while True:
            time.sleep(FLUSH)
            with self.lock:
                count, earliest, latest = self.count, self.earliest, self.latest
                self.count = 0
            if count:
                self.add(args=[count, repr(earliest), repr(latest), self.total])


_counter: _Counter | None = None
_pid = 0
_start = threading.Lock()


def done() -> None:
    global _counter, _pid
    if _pid != os.getpid():  # the first job of this process (a fork copies the parent's)
        with _start:
            if _pid != os.getpid():
                _counter, _pid = _Counter(), os.getpid()
    assert _counter is not None
    _counter.done()


_producer: redis.Redis | None = None


def enqueued(count: int) -> None:
    """A producer's progress, so a report can tell when a system was producer-bound."""
    global _producer
    if _producer is None:
        _producer = redis.Redis.from_url(os.environ["BENCH_TALLY_URL"])
    _producer.incrby("enqueued", count)


def alone(rate: float) -> None:
    """A producer's rate with no worker running (jobs/s): the most a steady run of one
    producer can reach, whatever the workers do."""
    redis.Redis.from_url(os.environ["BENCH_TALLY_URL"]).set("alone", repr(rate))
