"""What an idle daemon costs (goals: at most 1 % of a core and 100 MB RSS, issue 12).

Starts `jobrunner run` with nothing to do and measures the CPU time it uses
over `--seconds` (after a warm-up) and its resident memory at the end (RSS and
PSS, summed over the daemon and its worker processes), for:

- the repository's sample `jobs.d/` (2 queues, 4 cron entries);
- 1,000 cron entries that enqueue into one queue, none due during the run;
- 1,000 queues and 1,000 cron entries that run handlers of their own (`--entries`);

each on a fresh SQLite file (the default) and on a redis-server of its own
when one can be started.

    python benchmarks/idle_bench.py [--seconds 30] [--warmup 5] [--crons 1000] [--entries 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import Daemon
from servers import RedisServer

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def many_crons(jobs: Path, count: int) -> None:
    """`count` hourly entries into one queue (none fires within the measurement)."""
    lines = ["version: 1", "queues:", "  work: {handler: python, params: {callable: 'x:y'}}"]
    lines.append("cron:")
    minute = (time.gmtime().tm_min + 30) % 60
    lines += [f"  c{n:04d}: {{schedule: '{minute} * * * *', queue: work}}" for n in range(count)]
    (jobs / "crons.yaml").write_text("\n".join(lines) + "\n")


def many_entries(jobs: Path, count: int) -> None:
    """`count` queues and `count` hourly cron entries with handlers of their own, so each is
    a lane of its own (none fires within the measurement)."""
    minute = (time.gmtime().tm_min + 30) % 60
    handler = "handler: python, params: {callable: 'json:dumps'}"  # importable: every lane sets up
    lines = ["version: 1", "queues:"]
    lines += [f"  q{n:04d}: {{{handler}}}" for n in range(count)]
    lines.append("cron:")
    lines += [f"  c{n:04d}: {{schedule: '{minute} * * * *', {handler}}}" for n in range(count)]
    (jobs / "entries.yaml").write_text("\n".join(lines) + "\n")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with other processes count by their share,
    so the sum over a daemon and its forked workers is what they cost together."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree(pid: int) -> list[int]:
    """The process and all its descendants (`jobrunner run --processes N` has children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return found


def idle_cost(pid: int, seconds: float, warmup: float) -> dict[str, float]:
    """CPU % of a core over `seconds` after `warmup`, and memory, summed over the tree."""
    time.sleep(warmup)
    pids = tree(pid)
    before, start = sum(cpu_seconds(p) for p in pids), time.monotonic()
    time.sleep(seconds)
    pids = [p for p in pids if Path(f"/proc/{p}").exists()]
    used, elapsed = sum(cpu_seconds(p) for p in pids) - before, time.monotonic() - start
    return {
        "cpu_percent": 100 * used / elapsed,
        "rss_mb": sum(rss_mb(p) for p in pids),
        "pss_mb": sum(pss_mb(p) for p in pids),
        "processes": len(pids),
    }


def measure(name: str, url: str, jobs: Path, seconds: float, warmup: float) -> None:
    # default flags: one process per CPU (the tests' Daemon runs one unless told)
    daemon = Daemon(jobs, url, "--processes", "auto", log=jobs.parent / f"{name}.log").start()
    assert daemon.process is not None
    try:
        cost = idle_cost(daemon.process.pid, seconds, warmup)
        print(
            f"{name:<26} cpu {cost['cpu_percent']:5.2f} % of a core   "
            f"rss {cost['rss_mb']:5.1f} MB   pss {cost['pss_mb']:5.1f} MB   "
            f"{cost['processes']} processes"
        )
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--crons", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample, crons = work / "sample" / "jobs.d", work / "crons" / "jobs.d"
        shutil.copytree(ROOT / "jobs.d", sample)
        crons.mkdir(parents=True)
        many_crons(crons, args.crons)
        entries = work / "entries" / "jobs.d"
        entries.mkdir(parents=True)
        many_entries(entries, args.entries)
        setups = [
            ("sample", sample),
            (f"{args.crons} crons", crons),
            (f"{args.entries}+{args.entries} entries", entries),
        ]
        for label, jobs in setups:
            url = f"sqlite:///{jobs.parent / 'state.db'}"
            measure(f"sqlite, {label}", url, jobs, args.seconds, args.warmup)
        try:
            server = RedisServer(work)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"redis skipped: {exc}")
            return
        try:
            for label, jobs in setups:
                measure(f"redis, {label}", server.url, jobs, args.seconds, args.warmup)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
