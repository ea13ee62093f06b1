"""The benchmarks still run: tiny sizes, one run each, no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


COMPARED = ["jobrunner", "jobrunner-sqlite", "dramatiq", "huey", "huey-threads", "celery", "rq"]
OWN_FIGURES = [
    *(
        f"{what}_{storage}"
        for storage in ("redis", "sqlite")
        for what in (
            "bulk_enqueue",
            "enqueue_p50",
            "enqueue_p99",
            "pickup_p50",
            "pickup_p99",
            "idle_cpu_percent",
            "idle_rss_mb",
            "idle_pss_mb",
        )
    ),
    *("tick_lateness_p50", "tick_lateness_p99", "reload_p50", "reload_max"),
    *("idle_processes_redis", "idle_connections_redis", "cmds_per_job", "ping_p99_redis"),
    *("drain_ratio", "steady_ratio", "drain_vs_dramatiq", "steady_vs_dramatiq"),
]


@pytest.mark.timeout(300)
def test_compare_quick(tmp_path: Path) -> None:
    """`python -m benchmarks compare --quick` measures every system and figure and writes
    the JSON, the two Markdown tables and the PNG (CI installs the `bench` extra)."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "compare", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=BENCHMARKS.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((out / "compare.json").read_text())
    assert list(found["systems"]) == COMPARED
    for name, system in found["systems"].items():
        redis = name != "jobrunner-sqlite"
        for figure in ["drain", "steady", "producer_alone"] + (["cmds_per_job"] if redis else []):
            assert system[figure]["median"] > 0, (name, figure)
    assert set(found["ratios"]["jobrunner"]) == {"drain", "steady", "cmds_per_job"}
    assert set(found["jobrunner"]) == set(OWN_FIGURES)
    for key, figure in found["jobrunner"].items():
        if key.startswith("bulk_enqueue") and "unavailable" in figure:
            # Client.enqueue_many is being added: the report says so instead of a number.
            assert figure["unavailable"].startswith("not available")
            continue
        assert isinstance(figure["median"], int | float), key
    assert found["machine"]["python_speed_us"] > 0
    markdown = (out / "compare.md").read_text()
    assert "`sum(range(1000))`" in markdown.splitlines()[0]
    assert (
        "| system | drain jobs/s | steady jobs/s | steady: producer stored/s | producer alone/s |"
        in markdown
    )
    for name, system in found["systems"].items():  # a steady run is read beside its producer
        [row] = [line for line in markdown.splitlines() if line.startswith(f"| {name} |")]
        assert row.split(" | ")[3].startswith(f"{system['steady_enqueue']['median']:,.0f}"), row
        assert row.split(" | ")[4].startswith(f"{system['producer_alone']['median']:,.0f}"), row
    assert "| jobrunner figure | median (min-max) | goal | met |" in markdown
    assert all(f"| {name} |" in markdown for name in COMPARED)
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.timeout(200)
def test_split_accounts_for_each_side_steady_and_draining() -> None:
    """`python -m benchmarks split` puts a cost on the workers, the producer and Redis (none
    on the producer when draining, where no producer runs) and counts the commands."""
    found = {}
    command = [sys.executable, "-m", "benchmarks", "split", "--systems", "jobrunner"]
    for mode in (["--seconds", "0.5"], ["--seconds", "0.3", "--drain", "4000"]):
        result = subprocess.run(
            [*command, "--warmup", "0.2", "--json", *mode],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=BENCHMARKS.parent,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        [split] = json.loads(result.stdout)
        found[split["mode"]] = split
    assert set(found) == {"steady", "drain"}
    for mode, split in found.items():
        assert split["system"] == "jobrunner"
        assert split["jobs_per_second"] > 0 and split["workers_us"] > 0, split
        assert split["redis_us"] > 0 and split["commands"] > 0, split
        assert "evalsha" in split["by_command"] or "hset" in split["by_command"], split
        assert (split["producer_us"] > 0) == (mode == "steady"), split


def test_command_stats_count_the_systems_commands_only(tmp_path: Path) -> None:
    """Commands per job come from INFO commandstats: the harness's own reset and INFO
    calls must not count, or every system would be charged for them."""
    import redis

    from benchmarks.compare.redis_stats import CommandStats, redis_server

    with redis_server(tmp_path) as url:
        stats = CommandStats(url)
        assert stats.calls() == 0
        with redis.Redis.from_url(url, single_connection_client=True) as system:
            system.ping()  # the connection's handshake (HELLO, CLIENT SETINFO) counts too
            stats.reset()
            for n in range(10):
                system.set(f"k{n}", n)
            system.incr("k0")
        assert stats.calls() == 11
        assert stats.by_command() == {"set": 10, "incrby": 1}  # redis-py sends INCRBY
        stats.close()


COUNTER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import tally
count, pause = int(sys.argv[2]), float(sys.argv[3])
tally.FLUSH = float(sys.argv[4])
time.sleep(pause)
stamps = []
for _ in range(count):
    before = time.time()
    tally.done()
    stamps.append((before, time.time()))
print(*stamps[0], *stamps[-1])
time.sleep(0.6)  # its last sends
"""


def test_the_tally_stamps_the_first_and_the_nth_completion_of_every_process(
    tmp_path: Path,
) -> None:
    """Jobs count themselves in their process and are sent in batches: `first` must still be
    the earliest completion of all processes, and `last` the latest, stamped when the count
    reaches BENCH_TOTAL, whichever process's send gets there (not the time of a send). The
    process that starts first sends last, so neither stamp can be the first send's."""
    import os

    import redis

    from benchmarks.compare.redis_stats import redis_server

    apps = BENCHMARKS / "compare" / "peers" / "apps"
    with redis_server(tmp_path) as url:
        env = {**os.environ, "BENCH_TALLY_URL": url, "BENCH_TOTAL": "3000"}
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", COUNTER, str(apps), "1500", pause, flush],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for pause, flush in (("0", "0.4"), ("0.1", "0.02"))
        ]
        stamps = [[float(x) for x in run.communicate(timeout=60)[0].split()] for run in runs]
        with redis.Redis.from_url(url, decode_responses=True) as tally:
            done, first, last = tally.mget("done", "first", "last")
    assert int(done) == 3000
    assert min(s[0] for s in stamps) <= float(first) <= min(s[1] for s in stamps)
    assert max(s[2] for s in stamps) <= float(last) <= max(s[3] for s in stamps)
