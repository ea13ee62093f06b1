"""How fast an idle daemon picks up a new job (goal: under 50 ms on SQLite).

Starts `jobrunner run` on a fresh SQLite file (and on a redis-server of its own
when one can be started), then enqueues one job at a time from this process,
at random moments while the daemon is idle, and measures from the enqueue to
the handler's first line; after one warm-up job, not measured (this process's
first enqueue connects and loads the script).

    python benchmarks/pickup_bench.py [--samples 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import APPS, Daemon
from latency import report
from servers import RedisServer

from jobrunner.job import Job, new_id
from jobrunner.storage import open_storage

JOBS = """\
version: 1
queues:
  ping:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 2
"""


def measure(url: str, workdir: Path, samples: int) -> list[float]:
    jobs = workdir / "jobs.d"
    jobs.mkdir(exist_ok=True)
    (jobs / "ping.yaml").write_text(JOBS)
    out = workdir / f"out-{url.split(':')[0]}.jsonl"
    daemon = Daemon(jobs, url, "--processes", "auto", log=workdir / "daemon.log").start()
    store = open_storage(url)
    latencies = []
    try:
        # One job first, not measured: this process's first enqueue opens its connection
        # and loads the script (about 10 ms, the producer's cost, not the daemon's pickup).
        for n in range(-1, samples):
            time.sleep(random.uniform(0.2, 0.6))  # let the daemon go idle
            sent = time.time()
            store.enqueue(Job(new_id(), "ping", {"out": str(out), "n": n}, created=sent))
            # The handler writes when it started; reading that file in a tight loop would
            # take a core from the daemon on a small machine, so look a little later.
            time.sleep(0.02)
            while True:
                done = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
                started = [x["t"] for x in done if x["n"] == n and x["phase"] == "start"]
                if started:
                    if n >= 0:
                        latencies.append(started[0] - sent)
                    break
                time.sleep(0.005)
    finally:
        daemon.stop()
        store.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(APPS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        report("sqlite", measure(f"sqlite:///{workdir / 'state.db'}", workdir, args.samples))
        try:
            server = RedisServer(workdir)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"redis    skipped: {exc}")
            return
        try:
            report("redis", measure(server.url, workdir, args.samples))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
