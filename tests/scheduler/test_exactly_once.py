"""Three schedulers on one Redis fire a per-second schedule once per tick, through a SIGKILL."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from daemon_proc import Daemon

from jobrunner.job import decode
from jobrunner.storage import open_storage

JOBS = """\
version: 1
queues:
  ticks:
    handler: python
    params: {callable: "jobapp:record"}
cron:
  every-second:
    schedule: "* * * * * *"
    queue: ticks
    payload: {n: 0}
    overlap: allow
    starting_deadline: 0
"""


def test_three_schedulers_fire_each_tick_once(
    tmp_path: Path, redis_url: str, jobs_dir: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = jobs_dir(**{"jobs.yaml": JOBS})
    args = ("--role", "scheduler")
    schedulers = [
        Daemon(jobs, redis_url, *args, log=tmp_path / f"s{i}.log").start() for i in range(3)
    ]
    started = time.time()
    try:
        time.sleep(20)
        schedulers[0].kill()  # SIGKILL mid-flight
        time.sleep(5)
        schedulers.append(Daemon(jobs, redis_url, *args, log=tmp_path / "s0b.log").start())
        time.sleep(40)
    finally:
        for daemon in schedulers[1:]:
            daemon.stop()
    store = open_storage(redis_url)
    try:
        leased = store.lease("ticks", "test", count=10_000, lease_for=60)
    finally:
        store.close()
    ticks = Counter(decode(lease.raw).tick for lease in leased)
    seconds = sorted(ticks)
    twice = [t for t, n in ticks.items() if n > 1]
    gaps = [(a, b) for a, b in itertools.pairwise(seconds) if b - a != 1.0]
    with capsys.disabled():
        print(
            f"\nticks fired: {len(seconds)} over {seconds[-1] - seconds[0]:.0f}s, "
            f"fired twice: {len(twice)}, gaps: {len(gaps)}"
        )
    assert len(seconds) >= 60
    assert seconds[0] - started < 3  # firing from the start
    assert not twice, "a tick fired more than once"
    assert not gaps, f"ticks missing between {gaps}"
