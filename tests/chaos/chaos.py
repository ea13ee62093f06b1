"""The chaos suite: work flows through several daemons while faults are injected; then the books.

Started by the suite itself: an AOF redis-server (or one SQLite file), several
`jobrunner run` processes, a producer enqueueing jobs whose handler records
each execution, and a fault injector that, in an order drawn from `--seed`,
SIGKILLs daemons (and starts them again), SIGSTOPs one past its lease and
resumes it, restarts Redis, and edits `jobs.d` (valid changes, invalid files,
partial writes, atomic renames). Then it checks the books:

- every job executed at least once and ended succeeded; none is left queued,
  scheduled or leased;
- every job executed more than once has a `lost` attempt in its history
  (its first daemon was killed or stopped past its lease);
- every cron tick of the run fired exactly once, unless it is excused: in the
  first or last second of the run (daemons starting or stopping), or inside an
  outage the suite caused and recorded (Redis down, or no scheduler alive),
  where `starting_deadline` says whether the newest missed tick must still
  run on recovery (tests/chaos/tick_books.py has the rules and margins); the
  ticks expected come from the cron entries in jobs.d, computed here;
- no daemon exited that the injector did not kill.

    python tests/chaos/chaos.py --storage redis --jobs 10000 --daemons 4 \\
        --kills 20 --stops 3 --restarts 2 --edits 5 --seed 1

prints one summary line and exits 0 when the books balance. The tests run a
small size on both backends; JOBRUNNER_CHAOS=full runs the full one.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon_proc import Daemon, lines
from servers import free_port
from tick_books import Edges, Key, Outage, TickBooks, account, key

from jobrunner.config.load import load
from jobrunner.job import Job, State, new_id
from jobrunner.storage import open_storage

LEASE = 2.0
JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {{callable: "jobapp:record"}}
    concurrency: {concurrency}
    max_deliveries: 100
  ticks:
    handler: python
    params: {{callable: "jobapp:record"}}
cron:
  tick:
    every: 1s
    queue: ticks
    payload: {{out: "{ticks}"}}
    overlap: allow
    starting_deadline: 0
"""


@dataclass
class Size:
    jobs: int = 300
    daemons: int = 2
    kills: int = 3
    stops: int = 1
    restarts: int = 1
    edits: int = 2
    seed: int = 1


@dataclass
class Life:
    """When one daemon's scheduler could fire ticks: from its "ready" to its SIGKILL or SIGTERM,
    less its SIGSTOPs (Unix times, as the suite sent the signals)."""

    ready: float
    end: float = float("inf")
    paused: list[tuple[float, float]] = field(default_factory=list)

    def spans(self) -> list[tuple[float, float]]:
        spans, start = [], self.ready
        for stop, cont in sorted(self.paused):
            spans.append((start, stop))
            start = cont
        return [(a, b) for a, b in [*spans, (start, self.end)] if b > a]


@dataclass
class Books:
    storage: str
    size: Size
    executed: int = 0
    duplicates: int = 0
    unexplained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)
    ticks: TickBooks = field(default_factory=TickBooks)
    exits: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return (
            not (self.unexplained or self.lost or self.exits)
            and self.ticks.balanced
            and not any(self.left.values())
        )

    def summary(self) -> str:
        faults = ", ".join(f"{n} {what}" for what, n in sorted(self.faults.items()))
        verdict = "books balance" if self.balanced else "BOOKS DO NOT BALANCE"
        return (
            f"chaos [{self.storage}, seed {self.size.seed}]: {self.size.jobs} jobs, "
            f"{self.size.daemons} daemons; faults: {faults}; lost {len(self.lost)}, "
            f"executed {self.executed}, run twice {self.duplicates} "
            f"(unexplained {len(self.unexplained)}), left {sum(self.left.values())}, "
            f"{self.ticks.line()}; daemon exits "
            f"{len(self.exits)}, {self.seconds:.0f}s: {verdict}"
        )


class Redis:
    """A redis-server with an append-only file synced on every write, restartable in place."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Run:
    def __init__(self, storage: str, size: Size, workdir: Path) -> None:
        self.size, self.work, self.rng = size, workdir, random.Random(size.seed)
        self.out, self.ticks = workdir / "out.jsonl", workdir / "ticks.jsonl"
        self.jobs_dir = workdir / "jobs.d"
        self.jobs_dir.mkdir()
        self.write_jobs(concurrency=4)
        self.redis = Redis(workdir) if storage == "redis" else None
        self.url = self.redis.url if self.redis else f"sqlite:///{workdir / 'state.db'}"
        self.books = Books(storage, size)
        self.daemons: list[Daemon] = []
        self.lives: dict[Daemon, Life] = {}
        self.killed: set[int] = set()  # pids the injector killed
        self.launched = self.stopping = self.ended = 0.0  # the run's edges (Unix times)
        self.storage_down: list[tuple[float, float]] = []  # Redis restarts: (stopped, answering)

    def write_jobs(self, concurrency: int) -> None:
        text = JOBS.format(concurrency=concurrency, ticks=self.ticks)
        (self.jobs_dir / "work.yaml").write_text(text)

    def start_daemon(self) -> Daemon:
        log = self.work / f"daemon-{len(self.daemons)}.log"
        args = ("--lease", f"{LEASE}s", "--grace", "2s")
        self.launched = self.launched or time.time()
        daemon = Daemon(self.jobs_dir, self.url, *args, log=log).start()
        self.daemons.append(daemon)
        self.lives[daemon] = Life(ready_at(daemon))
        return daemon

    def live(self) -> list[Daemon]:
        return [d for d in self.daemons if d.process is not None and d.process.poll() is None]

    # -- faults ----------------------------------------------------------------

    def kill(self) -> None:
        victim = self.rng.choice(self.live())
        assert victim.process is not None
        self.killed.add(victim.process.pid)
        self.lives[victim].end = time.time()
        victim.kill()
        self.books.faults["SIGKILLs"] += 1
        self.start_daemon()

    def stop_past_lease(self) -> None:
        victim = self.rng.choice(self.live())
        assert victim.process is not None
        stopped = time.time()
        victim.process.send_signal(signal.SIGSTOP)
        time.sleep(LEASE * 2)
        victim.process.send_signal(signal.SIGCONT)
        self.lives[victim].paused.append((stopped, time.time()))
        self.books.faults["SIGSTOPs past the lease"] += 1

    def restart_storage(self) -> None:
        if self.redis is None:
            return
        down = time.time()
        self.redis.stop()
        time.sleep(1.0)
        self.redis.start()
        self.storage_down.append((down, time.time()))
        self.books.faults["Redis restarts"] += 1

    def edit(self) -> None:
        path = self.jobs_dir / "work.yaml"
        kind = self.rng.choice(["valid", "invalid", "partial", "rename"])
        good = JOBS.format(concurrency=self.rng.choice([2, 4, 6]), ticks=self.ticks)
        if kind == "valid":
            path.write_text(good)
        elif kind == "invalid":
            path.write_text(good.replace("concurrency:", "concurrency: [", 1))
            time.sleep(1.0)
            path.write_text(good)
        elif kind == "partial":
            path.write_text(good[: len(good) // 2])
            time.sleep(0.3)
            path.write_text(good)
        else:
            tmp = self.jobs_dir / ".work.yaml.tmp"
            tmp.write_text(good)
            os.replace(tmp, path)
        self.books.faults[f"edits ({kind})"] += 1

    # -- the run -----------------------------------------------------------------

    def run(self) -> Books:
        started = time.monotonic()
        for _ in range(self.size.daemons):
            self.start_daemon()
        faults = (
            ["kill"] * self.size.kills
            + ["stop"] * self.size.stops
            + ["restart"] * (self.size.restarts if self.redis else 0)
            + ["edit"] * self.size.edits
        )
        self.rng.shuffle(faults)
        ids = self.produce_with(faults)
        self.settle(ids)
        self.stopping = time.time()
        for daemon in self.live():
            self.lives[daemon].end = time.time()
            daemon.stop(60)
        self.ended = time.time()
        self.check(ids)
        self.books.seconds = time.monotonic() - started
        if self.redis:
            self.redis.stop()
        return self.books

    def produce_with(self, faults: list[str]) -> list[str]:
        """Enqueue the jobs in a few batches while the faults come, 0.3 s apart."""
        actions = {
            "kill": self.kill,
            "stop": self.stop_past_lease,
            "restart": self.restart_storage,
            "edit": self.edit,
        }
        batches = min(4, len(faults) + 1)
        per = -(-self.size.jobs // batches)
        ids: list[str] = []
        for index, fault in enumerate([*faults, None]):
            if index < batches:
                ids += self.enqueue(len(ids), min(per, self.size.jobs - len(ids)))
            if fault is not None:
                time.sleep(0.3)
                actions[fault]()
        return ids

    def enqueue(self, first: int, count: int) -> list[str]:
        for _ in range(60):  # the storage may be restarting
            try:
                store = open_storage(self.url)
                try:
                    return [
                        store.enqueue(Job(new_id(), "work", self.payload(n), created=time.time()))
                        for n in range(first, first + count)
                    ]
                finally:
                    store.close()
            except Exception:  # the producer rides out a storage restart
                time.sleep(0.5)
        raise RuntimeError("could not enqueue for 30 s")

    def payload(self, n: int) -> dict[str, Any]:
        """Jobs of 200 ms, so that faults land while jobs run."""
        return {"out": str(self.out), "n": n, "sleep": 0.2}

    def settle(self, ids: list[str], timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        store = open_storage(self.url)
        try:
            while time.monotonic() < deadline:
                states = [(r.state if (r := store.record(i)) else None) for i in ids]
                if all(s is State.SUCCEEDED for s in states):
                    return
                time.sleep(1.0)
        finally:
            store.close()

    def check(self, ids: list[str]) -> None:
        books, entries = self.books, lines(self.out)
        starts = Counter(e["job"] for e in entries if e["phase"] == "start")
        books.executed = len(set(starts) & set(ids))
        books.lost = [i for i in ids if i not in starts]
        store = open_storage(self.url)
        try:
            twice = [job for job, n in starts.items() if n > 1]
            books.duplicates = len(twice)
            for job in twice:
                record = store.record(job)
                if record is None or not any(a.outcome == "lost" for a in record.attempts):
                    books.unexplained.append(job)
            not_done = [
                i for i in ids if (r := store.record(i)) is None or r.state is not State.SUCCEEDED
            ]
            books.lost += [i for i in not_done if i not in books.lost]
            stats = store.stats().get("work")
            if stats is not None:
                books.left = {
                    "ready": stats.ready,
                    "scheduled": stats.scheduled,
                    "running": stats.running,
                }
        finally:
            store.close()
        books.ticks = self.account_ticks()
        for daemon in self.daemons:
            assert daemon.process is not None
            code = daemon.process.returncode
            if daemon.process.pid not in self.killed and code not in (0, None):
                books.exits.append(f"pid {daemon.process.pid} exited {code}")

    def account_ticks(self) -> TickBooks:
        """Every tick of the cron entries in jobs.d over the run: fired once, or excused."""
        fired: dict[Key, set[str]] = {}
        skipped: set[Key] = set()
        for daemon in self.daemons:
            for e in daemon.events():
                if e.get("msg") == "cron fired":
                    fired.setdefault(key(e["cron"], _unix(e["tick"])), set()).add(e["job"])
                elif str(e.get("msg")).startswith("tick skipped"):
                    skipped.add(key(e["cron"], _unix(e["tick"])))
        store = open_storage(self.url)  # a fired tick whose daemon died before it logged
        try:
            for job in {e["job"] for e in lines(self.ticks) if e["phase"] == "start"}:
                record = store.record(job)
                if record is not None and record.job.cron and record.job.tick is not None:
                    fired.setdefault(key(record.job.cron, record.job.tick), set()).add(job)
        finally:
            store.close()
        crons = load([self.jobs_dir]).config.crons
        edges = Edges(
            self.launched,
            min(life.ready for life in self.lives.values()),
            self.stopping,
            self.ended,
        )
        outages = [Outage("Redis down", a, b) for a, b in self.storage_down]
        outages += [Outage("no scheduler alive", a, b) for a, b in self.no_scheduler(edges)]
        return account(crons, fired, skipped, edges, outages)

    def no_scheduler(self, edges: Edges) -> list[tuple[float, float]]:
        """The gaps between the first "ready" and the end when no daemon's scheduler ran."""
        gaps, covered = [], edges.ready
        for a, b in sorted(span for life in self.lives.values() for span in life.spans()):
            if a > covered and covered < edges.stopping:
                gaps.append((covered, min(a, edges.stopping)))
            covered = max(covered, b)
        if covered < edges.stopping:
            gaps.append((covered, edges.stopping))
        return gaps


def ready_at(daemon: Daemon) -> float:
    """When `daemon` logged "ready" (its scheduler is armed by then)."""
    stamps = [e["ts"] for e in daemon.events() if e.get("msg") == "ready" and "ts" in e]
    return _unix(stamps[-1]) if stamps else time.time()


def _unix(text: str) -> float:
    """A log's ISO 8601 time (`…Z` or with an offset) as a Unix time."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", choices=["redis", "sqlite"], default="redis")
    for name, default in vars(Size()).items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args(argv)
    size = Size(**{k: v for k, v in vars(args).items() if k != "storage"})
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent / "apps")
    with tempfile.TemporaryDirectory() as tmp:
        books = Run(args.storage, size, Path(tmp)).run()
    print(books.summary())
    return 0 if books.balanced else 1


if __name__ == "__main__":
    raise SystemExit(main())
