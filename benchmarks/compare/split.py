"""`python -m benchmarks split`: where a job's CPU goes, system by system.

The comparison (`python -m benchmarks compare`) says how many jobs a second
each system runs; this says what each job cost, and on which side. For each
system asked (jobrunner and Dramatiq by default), on fresh servers: its
workers start, then either one producer stores jobs at full speed (steady,
the default), or with `--drain N` N jobs are stored before the workers start.
After `--warmup` seconds, over `--seconds`:

- jobs done a second (from the tally, as the comparison counts them);
- CPU a job, in µs, of the workers' process tree, of the producer and of
  redis-server (utime + stime from /proc, so Linux only);
- the workers' voluntary context switches a job (every thread's);
- Redis commands a job (INFO commandstats), and the most frequent of them.

Run it twice, or alternate two builds, before believing a difference: a
shared VM moves these figures by 10-20 % from one minute to the next.

    python -m benchmarks split [--systems jobrunner,dramatiq] [--seconds 6] [--drain 80000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import idle_bench
import redis

from benchmarks.compare import measure
from benchmarks.compare.peers import PEERS
from benchmarks.compare.processes import Group, compile_sources
from benchmarks.compare.redis_stats import CommandStats, redis_server

SHOWN_COMMANDS = 8  # the most frequent commands a job, in the table's last column


@dataclass
class Split:
    """What one system's jobs cost over the measured window."""

    system: str
    mode: str  # steady | drain
    jobs_per_second: float
    workers_us: float  # CPU µs a job: the workers' process tree
    producer_us: float  # the producer (0 when draining)
    redis_us: float  # redis-server
    switches: float  # the workers' voluntary context switches a job
    commands: float  # Redis commands a job
    by_command: dict[str, float] = field(default_factory=dict)  # the most frequent, a job
    note: str = ""


def switches(pids: list[int]) -> int:
    """Voluntary context switches so far of every thread of `pids`."""
    total = 0
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                text = status.read_text()
            except OSError:  # a thread that ended meanwhile
                continue
            for line in text.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


class Sides:
    """CPU seconds so far of the workers' trees, the producer's and redis-server's."""

    def __init__(self, workers: Group, producer: Group | None, redis_pid: int) -> None:
        self.workers = [p for w in workers.processes for p in idle_bench.tree(w.pid)]
        self.producer = [p.pid for p in producer.processes] if producer else []
        self.redis_pid = redis_pid

    def read(self) -> tuple[float, float, float, int]:
        return (
            sum(_cpu(p) for p in self.workers),
            sum(_cpu(p) for p in self.producer),
            _cpu(self.redis_pid),
            switches(self.workers),
        )


def _cpu(pid: int) -> float:
    try:
        return idle_bench.cpu_seconds(pid)
    except OSError:  # it ended: what it used is gone with it
        return 0.0


def run(system: str, drain: int, warmup: float, seconds: float, workdir: Path) -> Split:
    peer = PEERS[system]
    if peer.storage != "redis":
        raise SystemExit(f"split: {system} does not run on Redis: its server cannot be measured")
    with redis_server(workdir / "tally") as tally_url, redis_server(workdir / "redis") as url:
        env = {"BENCH_URL": url, "BENCH_TALLY_URL": tally_url, "BENCH_TOTAL": str(10**12)}
        if peer.prepare is not None:
            peer.prepare(url, workdir)
        if drain:
            measure.produce(peer, drain, None, env, workdir).wait(60 + drain / 50)
        workers = Group(peer.workers(url, workdir), env, workdir / "workers.log")
        producer = None if drain else measure.produce(peer, 0, warmup + seconds + 30, env, workdir)
        try:
            with redis.Redis.from_url(tally_url) as tally:
                return _window(system, drain, warmup, seconds, tally, url, workers, producer)
        finally:
            if producer is not None:
                producer.stop()
            workers.stop()


def _window(
    system: str,
    drain: int,
    warmup: float,
    seconds: float,
    tally: redis.Redis,
    url: str,
    workers: Group,
    producer: Group | None,
) -> Split:
    deadline = time.monotonic() + 60
    while tally.get("first") is None:  # the workers run jobs
        workers.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"split: {system} ran no job in 60 s; see {workers.log}")
        time.sleep(0.02)
    time.sleep(warmup)
    stats = CommandStats(url)
    sides = Sides(workers, producer, int(stats.client.info("server")["process_id"]))
    stats.reset()  # the INFO above is not the system's
    before, done, start = sides.read(), int(tally.get("done") or 0), time.monotonic()
    time.sleep(seconds)
    after, done2, end = sides.read(), int(tally.get("done") or 0), time.monotonic()
    counts = stats.by_command()
    stats.close()
    workers.check()
    jobs = max(done2 - done, 1)
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:SHOWN_COMMANDS]
    return Split(
        system=system,
        mode="drain" if drain else "steady",
        jobs_per_second=(done2 - done) / (end - start),
        workers_us=1e6 * (after[0] - before[0]) / jobs,
        producer_us=1e6 * (after[1] - before[1]) / jobs,
        redis_us=1e6 * (after[2] - before[2]) / jobs,
        switches=(after[3] - before[3]) / jobs,
        commands=sum(counts.values()) / jobs,
        by_command={name: n / jobs for name, n in top},
        note="the backlog ran out inside the window: raise --drain"
        if drain and done2 >= drain
        else "",
    )


def table(splits: list[Split]) -> str:
    lines = [
        "| system | mode | jobs/s | workers µs/job | producer µs/job | Redis µs/job "
        "| switches/job | Redis cmds/job | most frequent, a job |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in splits:
        top = " ".join(f"{name} {n:.2f}" for name, n in s.by_command.items())
        lines.append(
            f"| {s.system} | {s.mode} | {s.jobs_per_second:,.0f} | {s.workers_us:.0f} "
            f"| {s.producer_us:.0f} | {s.redis_us:.0f} | {s.switches:.2f} | {s.commands:.2f} "
            f"| {top} |" + (f" {s.note}" if s.note else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks split",
        description="CPU a job on each side (workers, producer, redis-server), context switches "
        "and Redis commands a job, in steady state (one producer at full speed) or draining.",
    )
    p.add_argument(
        "--systems",
        default="jobrunner,dramatiq",
        metavar="A,B",
        help="of " + ", ".join(name for name, peer in PEERS.items() if peer.storage == "redis"),
    )
    p.add_argument("--seconds", type=float, default=6.0, help="the measured window")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds after the first job done")
    p.add_argument(
        "--drain",
        type=int,
        default=0,
        metavar="N",
        help="store N jobs first and measure the workers draining them (no producer)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    systems = [name.strip() for name in args.systems.split(",") if name.strip()]
    unknown = [name for name in systems if name not in PEERS]
    if unknown:
        p.error(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(PEERS)}")
    if not Path("/proc/self/stat").exists():
        p.error("this reads CPU times from /proc: Linux only")
    compile_sources()
    splits = []
    for system in systems:
        with tempfile.TemporaryDirectory(prefix="split-") as tmp:
            splits.append(run(system, args.drain, args.warmup, args.seconds, Path(tmp)))
    print(json.dumps([asdict(s) for s in splits], indent=1) if args.json else table(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
