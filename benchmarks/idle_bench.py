"""What an idle daemon costs (goal: at most 1 % of a core and 60 MB RSS).

Starts `jobrunner run` with nothing to do and measures the CPU time it uses
over `--seconds` (after a warm-up) and its resident memory at the end, for:

- the repository's sample `jobs.d/` (2 queues, 4 cron entries);
- 1,000 cron entries that enqueue into one queue, none due during the run;

each on a fresh SQLite file (the default) and on a redis-server of its own
when one can be started.

    python benchmarks/idle_bench.py [--seconds 30] [--warmup 5]
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(name: str, url: str, jobs: Path, seconds: float, warmup: float) -> None:
    daemon = Daemon(jobs, url, log=jobs.parent / f"{name}.log").start()
    assert daemon.process is not None
    pid = daemon.process.pid
    try:
        time.sleep(warmup)
        before, start = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(pid) - before, time.monotonic() - start
        print(f"{name:<22} cpu {100 * used / elapsed:5.2f} % of a core   rss {rss_mb(pid):5.1f} MB")
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--crons", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample, crons = work / "sample" / "jobs.d", work / "crons" / "jobs.d"
        shutil.copytree(ROOT / "jobs.d", sample)
        crons.mkdir(parents=True)
        many_crons(crons, args.crons)
        setups = [("sample", sample), (f"{args.crons} crons", crons)]
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
