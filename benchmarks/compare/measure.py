"""One system, one round: drain and steady throughput, and Redis commands per job.

Fresh servers each time: the measured one (Redis, or a SQLite file) and the
tally (peers/apps/tally.py). Then:

1. `prepare` (jobrunner publishes its configuration), CONFIG RESETSTAT;
2. enqueue N no-op jobs with no worker running (a producer process using the
   system's own client); the commands so far are the enqueue part; the
   producer's rate is kept ("producer alone": the most a steady run of one
   producer can show, however fast the workers are);
3. start the workers; the drain is timed from the first job's completion to
   the N-th (so worker start-up is excluded); the commands from the end of the
   enqueue until 0.25 s after the last completion are the work part (start-up
   included: it is paid once, N is large);
4. steady: with the same workers, a producer enqueues for warm-up + seconds;
   after the first completion and the warm-up, completions per second over
   `seconds`; the producer's own rate is kept too, to show a producer-bound run;
5. the system's own figures (`Peer.extra`), then stop everything.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from benchmarks.compare.peers.base import Peer
from benchmarks.compare.processes import APPS, Group
from benchmarks.compare.redis_stats import CommandStats, redis_server


@dataclass(frozen=True, slots=True)
class Sizes:
    jobs: int  # N, the same for every system
    seconds: float  # steady measurement
    warmup: float  # steady warm-up, after the first completion
    timeout: float  # the most a drain may take


def run(peer: Peer, sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """The figures of one system in one round (see the module docstring)."""
    workdir.mkdir(parents=True)
    with redis_server(workdir / "tally") as tally_url:
        if peer.storage == "redis":
            with redis_server(workdir / "redis") as url:
                return _run(peer, sizes, workdir, url, tally_url)
        return _run(peer, sizes, workdir, f"sqlite:///{workdir / 'state.db'}", tally_url)


def _run(peer: Peer, sizes: Sizes, workdir: Path, url: str, tally_url: str) -> dict[str, Any]:
    load, began = [os.getloadavg()[0]], time.monotonic()
    env = {"BENCH_URL": url, "BENCH_TALLY_URL": tally_url, "BENCH_TOTAL": str(sizes.jobs)}
    if peer.prepare is not None:
        peer.prepare(url, workdir)
    figures: dict[str, Any] = {}
    with (
        redis.Redis.from_url(tally_url, decode_responses=True) as tally,
        contextlib.closing(CommandStats(url)) if peer.storage == "redis" else _none() as stats,
    ):
        producer = produce(peer, sizes.jobs, None, env, workdir)
        try:
            producer.wait(sizes.timeout)
        finally:
            producer.stop()
        enqueued = stats.calls() if stats else 0
        figures["producer_alone"] = float(tally.get("alone") or 0)
        workers = Group(peer.workers(url, workdir), env, workdir / "workers.log")
        try:
            figures["drain"] = drain(tally, workers, sizes)
            time.sleep(0.25)
            if stats is not None:
                figures |= commands(stats.by_command(), enqueued, sizes.jobs)
            figures |= steady(peer, sizes, env, workdir, tally, workers)
        finally:
            workers.stop()
    if peer.extra is not None:
        figures |= peer.extra(url, workdir, "stopped", sizes.jobs)
    figures["load"] = [*load, os.getloadavg()[0]]
    figures["elapsed"] = time.monotonic() - began  # set-up and shutdown included
    return figures


@contextlib.contextmanager
def _none() -> Iterator[None]:
    yield None


def commands(by_command: dict[str, int], enqueued: int, jobs: int) -> dict[str, Any]:
    """Commands per job: the enqueue part, the work part (the rest), both, and by command."""
    total = sum(by_command.values())
    return {
        "cmds_enqueue": enqueued / jobs,
        "cmds_work": (total - enqueued) / jobs,
        "cmds_per_job": total / jobs,
        "commands": by_command,
    }


def produce(
    peer: Peer, count: int, seconds: float | None, env: dict[str, str], workdir: Path
) -> Group:
    command = [sys.executable, str(APPS / "produce.py"), peer.app.removesuffix("_app"), str(count)]
    if seconds is not None:
        command.append(str(seconds))
    return Group([command], env, workdir / "producer.log")


def drain(tally: redis.Redis, workers: Group, sizes: Sizes) -> float:
    """Jobs per second from the first completion to the N-th."""
    deadline = time.monotonic() + sizes.timeout
    while tally.get("last") is None:
        workers.check()
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"drain: {_counts(tally)[0]} of {sizes.jobs} jobs done in {sizes.timeout:g} s; "
                f"see the workers' log in {workers.log}"
            )
        time.sleep(0.02)
    first, last = float(tally.get("first") or 0), float(tally.get("last") or 0)
    return (sizes.jobs - 1) / (last - first)


def steady(
    peer: Peer, sizes: Sizes, env: dict[str, str], workdir: Path, tally: redis.Redis, workers: Group
) -> dict[str, Any]:
    """Completions and enqueues per second while a producer and the workers run together;
    then, still under that load, the system's own "loaded" figures."""
    tally.flushall()
    producer = produce(peer, 0, sizes.warmup + sizes.seconds + 60, env, workdir)
    try:
        deadline = time.monotonic() + sizes.timeout
        while tally.get("first") is None:
            workers.check()
            producer.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"steady: no job done in {sizes.timeout} s")
            time.sleep(0.02)
        time.sleep(sizes.warmup)
        done, put, start = *_counts(tally), time.monotonic()
        time.sleep(sizes.seconds)
        done2, put2, end = *_counts(tally), time.monotonic()
        workers.check()
        figures = {
            "steady": (done2 - done) / (end - start),
            "steady_enqueue": (put2 - put) / (end - start),
        }
        if peer.extra is not None:
            figures.update(peer.extra(env["BENCH_URL"], workdir, "loaded", sizes.jobs))
        return figures
    finally:
        producer.stop()


def _counts(tally: redis.Redis) -> tuple[int, int]:
    """Jobs done, jobs enqueued (by the producer, in batches of 50)."""
    done, put = tally.mget("done", "enqueued")
    return int(done or 0), int(put or 0)
