"""`python -m benchmarks compare`: jobrunner and its peers measured side by side.

cli.py parses options; rounds.py runs every system once per round (measure.py,
one system on fresh servers: drain, steady, commands per job) and jobrunner's
own figures (jobrunner_figures.py); summary.py and report.py turn the rounds
into compare.json, compare.md and compare.png. peers/ holds one module per
system (how its workers start) and apps/ the tiny app each system runs.
"""

import sys
from pathlib import Path

# The benchmark scripts beside this package (idle_bench, pickup_bench, schedule_bench,
# latency) and the test helpers (servers, daemon_proc) are modules on a path, not packages:
# the comparison reuses them as the scripts themselves do.
_BENCHMARKS = Path(__file__).resolve().parents[1]
for _folder in (_BENCHMARKS.parent / "tests", _BENCHMARKS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
