"""Where a first load of a jobs directory spends its time, stage by stage, in a fresh process.

    python benchmarks/validate_stages.py DIR [--runs 3]

Each run is a new Python process (imports are cold, as for `jobrunner
validate`), with the cycle collector off as `config.load` has it; the best
of the runs is printed for each stage. `validate_bench.py --stages` runs it
on its generated directory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

# Run in a child process, so that nothing is imported or cached before the clock starts.
_CHILD = """
import gc, json, sys, time
from datetime import UTC, datetime
gc.disable()
times = {}
def timed(stage, action):
    start = time.perf_counter()
    result = action()
    times[stage] = time.perf_counter() - start
    return result
timed("import", lambda: __import__("jobrunner.config"))
from jobrunner import config
from jobrunner.config import build, checks, shape
from jobrunner.parse import document
from jobrunner.plugin import CheckOptions
from jobrunner.registry import discover
registry = timed("find plugins", discover)
texts = timed("read files", lambda: config.read([sys.argv[1]]))
docs = timed("parse", lambda: {n: document.parse(n, raw) for n, raw in texts.items()})
timed("shape", lambda: [shape.check(doc) for doc in docs.values()])
built = timed("build", lambda: [build.build(doc, set()) for doc in docs.values()])
scope = checks.Scope(
    docs,
    [queue for one in built for queue in one.queues],
    [cron for one in built for cron in one.crons],
    registry,
    datetime.now(UTC),
    CheckOptions(),
    None,
    None,
)
timed("cross-file checks", lambda: checks.run_all(scope))
print(json.dumps(times))
"""


def measure(directory: str, runs: int) -> dict[str, float]:
    """The best time of each stage over `runs` fresh processes."""
    best: dict[str, float] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, directory], capture_output=True, text=True, check=True
        )
        for stage, seconds in json.loads(out.stdout).items():
            best[stage] = min(seconds, best.get(stage, seconds))
    return best


def report(times: dict[str, float]) -> str:
    lines = [f"{stage:<20} {seconds * 1000:7.0f} ms" for stage, seconds in times.items()]
    lines.append(f"{'all':<20} {sum(times.values()) * 1000:7.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(report(measure(args.directory, args.runs)))


if __name__ == "__main__":
    main()
