"""The benchmarks still run: tiny sizes, one run each, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def bench(*args: str) -> str:
    script = str(BENCHMARKS / "validate_bench.py")
    result = subprocess.run(
        [sys.executable, script, "--files", "3", "--entries", "4", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_validate_bench_runs() -> None:
    out = bench("--runs", "1", "--starts", "1")
    assert out.startswith("3 files, 12 entries")
    assert "jobrunner validate (subprocess)" in out


def test_validate_stages_times_every_stage() -> None:
    out = bench("--stages", "--runs", "1")
    stages = [line.split()[0] for line in out.splitlines()]
    assert stages == ["import", "find", "read", "parse", "shape", "build", "cross-file", "all"]


def test_idle_bench_runs() -> None:
    script = str(BENCHMARKS / "idle_bench.py")
    result = subprocess.run(
        [sys.executable, script, "--seconds", "0.5", "--warmup", "0", "--crons", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(",")[0] for line in result.stdout.splitlines()][:2] == ["sqlite", "sqlite"]
    assert "% of a core" in result.stdout


def test_http_enqueue_bench_runs() -> None:
    script = str(BENCHMARKS / "http_enqueue_bench.py")
    result = subprocess.run(
        [sys.executable, script, "--seconds", "0.5", "--warmup", "0", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sqlite") and "enqueues/s" in result.stdout


def test_pages_bench_runs() -> None:
    script = str(BENCHMARKS / "pages_bench.py")
    result = subprocess.run(
        [sys.executable, script, "--queues", "3", "--jobs", "60", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sqlite: 3 queues")
    assert "/queues/q001?field=customer&value=7" in result.stdout
    assert result.stdout.count("median") == 2 * 11
