"""`python -m benchmarks compare`: jobrunner side by side with Huey, Dramatiq, Celery and RQ."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.compare import jobrunner_figures, measure, report, rounds
from benchmarks.compare.peers import PEERS
from benchmarks.compare.processes import compile_sources

RESULTS = Path(__file__).resolve().parents[1] / "results"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks compare",
        description="Drain and steady throughput and Redis commands per job of jobrunner and "
        "its peers, interleaved round by round, plus jobrunner's own latency and idle figures.",
    )
    p.add_argument("--rounds", type=int, default=3, help="every system once per round")
    p.add_argument("--jobs", type=int, default=20_000, help="N no-op jobs per drain (and bulk)")
    p.add_argument("--seconds", type=float, default=10.0, help="steady: measured seconds")
    p.add_argument(
        "--only",
        default=",".join(PEERS),
        metavar="A,B",
        help=f"systems to run (of {', '.join(PEERS)}); jobrunner's own figures come with "
        "'jobrunner'",
    )
    p.add_argument("--entries", type=int, default=1000, help="queues/crons for idle and reload")
    p.add_argument("--quick", action="store_true", help="1 round, tiny sizes: under a minute")
    p.add_argument("--out", type=Path, default=RESULTS, help="where compare.json/.md/.png go")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    systems = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in systems if name not in PEERS]
    if unknown:
        parser().error(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(PEERS)}")
    missing = sorted({m for name in systems for m in PEERS[name].needs} | {"matplotlib"})
    missing = [m for m in missing if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"compare: {', '.join(missing)} not installed: pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    if args.quick:
        args.rounds, args.jobs, args.seconds, args.entries = 1, 500, 1.0, 100
    sizes = measure.Sizes(
        jobs=args.jobs,
        seconds=args.seconds,
        warmup=0.5 if args.quick else 3.0,
        timeout=60 + args.jobs / 50,
    )
    figure_sizes = jobrunner_figures.Sizes(
        pickups=3 if args.quick else 200,  # of 200, the p99 is the second slowest, not the max
        ticks=2 if args.quick else 60,
        entries=args.entries,
        reloads=1 if args.quick else 10,
        idle_seconds=0.5 if args.quick else 20.0,
        idle_warmup=0.2 if args.quick else 5.0,
    )
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        try:
            results = rounds.run(systems, sizes, figure_sizes, args.rounds, Path(tmp))
        except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as exc:
            # a worker that died, a server that did not start, a daemon that never got ready
            print(f"compare: the run stopped: {exc}", file=sys.stderr)
            return 1
    results["options"] = {
        "rounds": args.rounds,
        "jobs": args.jobs,
        "seconds": args.seconds,
        "entries": args.entries,
        "quick": args.quick,
        "systems": systems,
        "jobrunner_figures": dataclasses.asdict(figure_sizes),
    }
    for path in report.write(results, args.out):
        print(path)
    return 0
