"""The shared worker threads of a daemon process (worker/pool.py, feed.py, acks.py): sized by
the lanes' concurrency within a cap, each lane held to its concurrency, a flood in one lane
never holding up another, and every finished job acknowledged."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_proc import wait_until

from jobrunner.config import Options, assemble
from jobrunner.job import Job, State, new_id
from jobrunner.registry import discover
from jobrunner.storage import Storage
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.lane import Lane
from jobrunner.worker.lane import lanes as lanes_of
from jobrunner.worker.pool import Pool

REGISTRY = discover()
APPS = str(Path(__file__).resolve().parent.parent / "apps")


@pytest.fixture(autouse=True)
def _apps() -> Iterator[None]:
    sys.path.insert(0, APPS)  # the handlers of tests/apps, as the daemons' PYTHONPATH has them
    yield
    sys.path.remove(APPS)


def lanes(text: str) -> dict[str, Lane]:
    config = assemble(
        {"jobs.yaml": text.encode()}, Options(), now=datetime.now(UTC), registry=REGISTRY
    ).config
    assert config is not None
    return lanes_of(config)


def pool_of(store: Storage, served: dict[str, Lane], threads: int = 128) -> Pool:
    pool = Pool(store, "test-owner", served.get, Plugins(REGISTRY), 30.0, threads=threads)
    pool.apply(stop=[], start=served.values())
    return pool


def stop(pool: Pool) -> None:
    pool.stop_all()
    for thread in pool.threads():
        thread.join(10)
    pool.settle_finished(5)


def queues(*specs: tuple[str, int]) -> str:
    rows = [
        f"  {name}: {{handler: python, params: {{callable: 'jobapp:record'}}, concurrency: {c}}}"
        for name, c in specs
    ]
    return "version: 1\nqueues:\n" + "\n".join(rows) + "\n"


def test_threads_follow_the_lanes_within_the_cap(store: Storage) -> None:
    many = lanes(queues(*((f"q{n}", 1) for n in range(300))))
    pool = pool_of(store, many)
    try:
        assert pool.threads_wanted() == 128  # 300 lanes of 1: the cap
        assert pool.consumer is not None and len(pool.consumer.worker_threads) == 128
    finally:
        stop(pool)
    wide = lanes(queues(("wide", 10), ("narrow", 1)))
    pool = pool_of(store, wide, threads=4)
    try:
        assert pool.threads_wanted() == 10  # one lane alone may run at its concurrency
        pool.apply(stop=["wide"], start=[])
        assert pool.threads_wanted() == 1
        assert pool.consumer is not None and len(pool.consumer.worker_threads) == 1
    finally:
        stop(pool)


def test_each_lane_is_held_to_its_concurrency_and_a_flood_holds_up_no_other(
    tmp_path: Path, store: Storage
) -> None:
    out = tmp_path / "out.jsonl"
    served = lanes(queues(("flood", 2), ("other", 1)))
    # 12 jobs of 0.4 s, 2 at a time: the other lane's job has about 1.2 s to run while half
    # the flood still waits (with 0.2 s jobs, 0.6 s was once too little on a loaded CI run)
    flood = [
        store.enqueue(Job(new_id(), "flood", {"out": str(out), "n": n, "sleep": 0.4}))
        for n in range(12)
    ]
    pool = pool_of(store, served)
    try:
        wait_until(lambda: out.exists(), what="the flood started")
        other = store.enqueue(Job(new_id(), "other", {"out": str(out), "n": -1}))
        wait_until(
            lambda: (r := store.record(other)) is not None and r.state is State.SUCCEEDED,
            what="the other lane's job ran",
            timeout=5,
        )
        unfinished = [i for i in flood if store.record(i).state is not State.SUCCEEDED]  # type: ignore[union-attr]
        assert len(unfinished) >= 6, "it ran while the flood was still running"
        wait_until(
            lambda: all(store.record(i).state is State.SUCCEEDED for i in flood),  # type: ignore[union-attr]
            what="the flood ran",
            timeout=30,
        )
    finally:
        stop(pool)
    events = sorted(
        (e["t"], 1 if e["phase"] == "start" else -1)
        for e in map(json.loads, out.read_text().splitlines())
        if e["n"] != -1
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2, "the flood lane ran at its concurrency, never more"


def test_every_finished_job_is_acknowledged(tmp_path: Path, store: Storage) -> None:
    served = lanes(
        "version: 1\nqueues:\n  fast: {handler: python, params: {callable: 'jobapp:echo'},"
        " concurrency: 4}\n"
    )
    ids = [store.enqueue(Job(new_id(), "fast", {"n": n}, created=time.time())) for n in range(500)]
    pool = pool_of(store, served)
    try:
        wait_until(
            lambda: all(
                (r := store.record(i)) is not None and r.state is State.SUCCEEDED for i in ids
            ),
            what="every job acknowledged",
        )
    finally:
        stop(pool)
    assert (store.stats().get("fast") or None) is None or store.stats()["fast"].running == 0
