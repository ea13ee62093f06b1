"""Tick lateness and save-to-applied reload latency of a running daemon.

Tick lateness: a scheduler daemon fires two per-second entries for --ticks
ticks in all; lateness is the time from each tick's due instant to its
enqueue (the job's `created` stamp minus its `tick`). Goal: p99 under 50 ms.

Reload latency: with --entries cron entries spread over 100 files, one file
is saved (temp file + rename, like editors do) --reloads times; latency is
from the save to the daemon's "configuration in force" log line for the new
generation. Goal: well under a second.

    python benchmarks/schedule_bench.py [--ticks 300] [--entries 1000] [--reloads 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import Daemon
from latency import report

from jobrunner.job import decode
from jobrunner.storage import open_storage

TICKS = """\
version: 1
queues:
  sink: {handler: python, params: {callable: "jobapp:record"}}
cron:
  a: {schedule: "* * * * * *", queue: sink, payload: {n: 1}, overlap: allow}
  b: {every: 1s, queue: sink, payload: {n: 2}, overlap: allow}
"""


def tick_lateness(workdir: Path, ticks: int) -> list[float]:
    jobs = workdir / "ticks.d"
    jobs.mkdir()
    (jobs / "t.yaml").write_text(TICKS)
    url = f"sqlite:///{workdir / 'ticks.db'}"
    daemon = Daemon(jobs, url, "--role", "scheduler", log=workdir / "ticks.log").start()
    time.sleep(ticks / 2 + 1.5)
    daemon.stop()
    store = open_storage(url)
    jobs_fired = [decode(x.raw) for x in store.lease("sink", "b", count=100_000, lease_for=60)]
    store.close()
    return [j.created - j.tick for j in jobs_fired if j.tick is not None][:ticks]


def entry(n: int) -> str:
    return (
        f'  e{n:04d}:\n    schedule: "{n % 60} {n % 24} * * *"\n'
        f'    handler: shell\n    params: {{command: ["true"]}}\n'
    )


def reload_latency(workdir: Path, entries: int, reloads: int) -> list[float]:
    jobs = workdir / "many.d"
    jobs.mkdir()
    per_file = max(1, entries // 100)
    for f in range(100):
        body = "".join(entry(f * per_file + i) for i in range(per_file))
        (jobs / f"f{f:03d}.yaml").write_text(f"version: 1\ncron:\n{body}")
    url = f"sqlite:///{workdir / 'many.db'}"
    log = workdir / "many.log"
    daemon = Daemon(jobs, url, "--role", "scheduler", log=log).start()
    latencies = []
    try:
        target = jobs / "f000.yaml"
        for r in range(reloads):
            time.sleep(1.0)
            text = target.read_text().replace(f'"{r % 60} ', f'"{(r + 1) % 60} ', 1)
            generation = 2 + r
            temp = target.with_name(".f000.yaml.tmp")
            temp.write_text(text if text != target.read_text() else text + "# r\n")
            saved = time.time()
            temp.replace(target)
            found = daemon.wait_for(
                lambda e, g=generation: (
                    e.get("msg") == "configuration in force" and e.get("generation") == g
                ),
                what=f"generation {generation}",
            )
            latencies.append(_ts(found["ts"]) - saved)
    finally:
        daemon.stop()
    return latencies


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--reloads", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        reloads = reload_latency(workdir, args.entries, args.reloads)
        report(f"reload ({args.entries} entries)", reloads, width=28)
        report("tick lateness", tick_lateness(workdir, args.ticks), width=28)
    print(json.dumps({"python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
