"""`jobrunner run` as a subprocess on real storage: retries, DLQ, rate limits, shutdown."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_proc import Daemon, lines, wait_until
from garbage import inject_garbage

from jobrunner.job import Job, State, new_id
from jobrunner.storage import QueueStats, Storage


def enqueue(store: Storage, queue: str, payload: dict[str, Any], **kw: Any) -> str:
    job = Job(id=new_id(), queue=queue, payload=payload, created=time.time(), **kw)
    return store.enqueue(job)


def running(store: Storage, queue: str) -> int:
    return store.stats().get(queue, QueueStats()).running


def state(store: Storage, job_id: str) -> State | None:
    record = store.record(job_id)
    return record.state if record else None


START_JITTER = 0.2  # seconds a rate-limited handler may start after its take
QUEUES = """\
version: 1
queues:
  flaky:
    handler: python
    params: {callable: "jobapp:flaky"}
    retry: {attempts: 4, backoff: exponential, delay: 200ms, max_delay: 500ms, jitter: 0.5}
  permanent:
    handler: python
    params: {callable: "jobapp:permanent"}
  work:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 3
  isolated:
    handler: python
    params: {callable: "jobapp:hang"}
    isolation: process
    timeout: 1s
    retry: {attempts: 1}
  hanging-shell:
    handler: shell
    params: {command: ["sh", "-c", "sleep 60"]}
    timeout: 1s
    retry: {attempts: 1}
  limited:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 4
    rate_limit: 4/s
"""


@pytest.fixture
def jobs(jobs_dir: Callable[..., Path]) -> Path:
    return jobs_dir(**{"queues.yaml": QUEUES})


def test_retries_follow_the_backoff_policy_then_dead_letter_then_replay(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url)
    failing = enqueue(store, "flaky", {"out": str(out)})
    healing = enqueue(store, "flaky", {"out": str(out), "succeed_on": 2})
    wait_until(lambda: state(store, failing) is State.DEAD, what="the job is dead", timeout=15)
    wait_until(lambda: state(store, healing) is State.SUCCEEDED, what="the job healed")

    starts = [x["t"] for x in lines(out) if x["job"] == failing]
    assert len(starts) == 4
    for n, (before, after) in enumerate(itertools.pairwise(starts), start=1):
        base = min(0.2 * 2 ** (n - 1), 0.5)
        gap = after - before
        assert base - 0.01 <= gap <= base * 1.5 + 0.35, f"retry {n}: {gap:.3f}s, base {base}"
    dead = store.record(failing)
    assert dead is not None
    assert [a.outcome for a in dead.attempts] == ["failed"] * 4
    assert [a.error for a in dead.attempts] == [f"failure number {n}" for n in range(1, 5)]
    assert dead.reason.startswith("failed all 4 attempts: RuntimeError")
    healed = store.record(healing)
    assert healed is not None and [a.outcome for a in healed.attempts] == ["failed", "succeeded"]

    assert store.replay(failing)
    wait_until(
        lambda: len([x for x in lines(out) if x["job"] == failing]) == 8,
        what="the replayed job ran its four attempts again",
        timeout=15,
    )
    wait_until(lambda: state(store, failing) is State.DEAD, what="dead again", timeout=15)
    again = store.record(failing)
    assert again is not None  # the replay kept the first four attempts in the history
    assert [a.error for a in again.attempts] == [f"failure number {n}" for n in range(1, 5)] * 2


def test_permanent_error_goes_straight_to_the_dead_letter_queue(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemons(jobs, url)
    job_id = enqueue(store, "permanent", {"out": str(tmp_path / "out.jsonl")})
    wait_until(lambda: state(store, job_id) is State.DEAD, what="the job is dead")
    record = store.record(job_id)
    assert record is not None and len(record.attempts) == 1
    assert "permanent" in record.reason and "this payload can never work" in record.reason
    assert record.extra["file"].endswith("queues.yaml") and record.extra["line"] == 7
    assert record.extra["generation"] == 1 and record.extra["commit"] is None  # not a Git tree


def test_isolated_handler_is_killed_at_its_timeout_and_the_daemon_keeps_serving(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url)
    hung = enqueue(store, "isolated", {"out": str(out)})
    wait_until(lambda: state(store, hung) is State.DEAD, what="the hung job is dead", timeout=15)
    record = store.record(hung)
    assert record is not None and record.attempts[0].outcome == "timeout"
    assert record.attempts[0].duration < 5
    after = enqueue(store, "work", {"out": str(out), "n": 1})
    wait_until(lambda: state(store, after) is State.SUCCEEDED, what="a later job succeeds")


def test_a_hanging_shell_job_is_killed_at_its_timeout_and_the_daemon_keeps_serving(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemons(jobs, url)
    hung = enqueue(store, "hanging-shell", {})
    wait_until(lambda: state(store, hung) is State.DEAD, what="the hung job is dead", timeout=15)
    record = store.record(hung)
    assert record is not None and record.attempts[0].outcome == "timeout"
    assert record.attempts[0].duration < 5
    after = enqueue(store, "work", {"out": str(tmp_path / "o.jsonl"), "n": 1})
    wait_until(lambda: state(store, after) is State.SUCCEEDED, what="a later job succeeds")


def test_rate_limit_shared_by_two_daemons_is_never_exceeded(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url, "--queues", "limited")
    daemons(jobs, url, "--queues", "limited")
    ids = [enqueue(store, "limited", {"out": str(out), "n": n}) for n in range(44)]
    wait_until(
        lambda: all(state(store, i) is State.SUCCEEDED for i in ids),
        what="all rate-limited jobs ran",
        timeout=30,
    )
    starts = sorted(x["t"] for x in lines(out) if x["phase"] == "start")
    assert starts[-1] - starts[0] >= 10.0 - 0.1  # 44 jobs at 4/s take over ten seconds
    # The limit holds for the takes (Redis time); a handler starts a little after its take,
    # later on a loaded machine. Five takes span a second at least, so five starts within
    # 1 - JITTER seconds mean a take beyond the limit, unless a start lagged by over JITTER.
    window = 1.0 - START_JITTER
    busiest = max(([t for t in starts if s <= t < s + window] for s in starts), key=len)
    assert len(busiest) <= 4, f"{len(busiest)} starts within {window} s: {busiest}"
    pids = {x["pid"] for x in lines(out)}
    assert len(pids) == 2, "both daemons took part"


def test_sigterm_lets_running_jobs_finish_and_leaves_nothing_leased(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs, url, "--grace", "20s")
    ids = [enqueue(store, "work", {"out": str(out), "n": n, "sleep": 1.5}) for n in range(3)]
    wait_until(lambda: len(lines(out)) == 3, what="three jobs started")
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 10
    assert all(state(store, i) is State.SUCCEEDED for i in ids)
    assert running(store, "work") == 0
    assert any(e.get("msg") == "stopped" and e.get("unfinished") == 0 for e in daemon.events())


def test_jobs_still_running_after_the_grace_period_are_handed_back(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs, url, "--grace", "500ms")
    job_id = enqueue(store, "work", {"out": str(out), "sleep": 60})
    wait_until(lambda: len(lines(out)) == 1, what="the job started")
    assert daemon.stop(timeout=10) == 0
    record = store.record(job_id)
    assert record is not None and record.state is State.QUEUED
    assert running(store, "work") == 0
    assert store.stats()["work"].ready == 1
    [handed] = record.attempts  # the hand-back is in the history, not a silent gap
    assert (handed.outcome, handed.number, handed.error_type) == ("interrupted", 1, "Shutdown")
    assert "--grace 0.5s ran out" in handed.error and handed.ended - handed.started >= 0.4
    assert record.job.attempt == 1  # it does not use up an attempt
    assert any(e.get("msg") == "stopped" and e.get("handed_back") == 1 for e in daemon.events())


def test_a_second_signal_exits_at_once(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs, url, "--grace", "60s")
    job_id = enqueue(store, "work", {"out": str(out), "sleep": 60})
    wait_until(lambda: len(lines(out)) == 1, what="the job started")
    daemon.signal(signal.SIGTERM)
    daemon.wait_for(lambda e: e.get("msg", "").startswith("stopping"), what="stopping")
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.process is not None
    daemon.process.wait(5)
    assert time.monotonic() - started < 3
    assert running(store, "work") == 0
    record = store.record(job_id)
    assert record is not None and [a.outcome for a in record.attempts] == ["interrupted"]
    assert "a second stop signal" in record.attempts[0].error


def test_garbage_message_is_buried_as_unreadable(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemons(jobs, url)
    inject_garbage(url, "work", b"\x00\xffnot a job")
    wait_until(lambda: len(store.dead("work")) == 1, what="the garbage is in the DLQ")
    [dead] = store.dead("work")
    assert "unreadable" in dead.reason
    ok = enqueue(store, "work", {"out": str(tmp_path / "o.jsonl"), "n": 1})
    wait_until(lambda: state(store, ok) is State.SUCCEEDED, what="the worker still serves")


def test_jobs_of_a_queue_that_no_longer_exists_are_dead_lettered(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    orphan = enqueue(store, "removed-queue", {"n": 1})
    daemons(jobs, url)
    wait_until(lambda: state(store, orphan) is State.DEAD, what="the orphan is dead", timeout=15)
    record = store.record(orphan)
    assert record is not None
    assert "queue 'removed-queue' no longer exists in the configuration" in record.reason


def test_a_flood_in_one_queue_does_not_starve_another(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    for n in range(300):
        enqueue(store, "limited", {"out": str(out), "n": n})
    daemons(jobs, url)
    urgent = enqueue(store, "work", {"out": str(out), "n": -1})
    wait_until(
        lambda: state(store, urgent) is State.SUCCEEDED, what="the other queue ran", timeout=5
    )
    assert store.stats()["limited"].ready > 250  # the flood is still waiting its turn


def test_a_fresh_checkout_runs_with_no_flags(tmp_path: Path, jobs: Path) -> None:
    import shutil
    import subprocess
    import sys

    from daemon_proc import APPS

    shutil.copytree(jobs, tmp_path / "checkout" / "jobs.d")
    log = tmp_path / "run.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobrunner", "run"],
            cwd=tmp_path / "checkout",
            stdout=sink,
            stderr=sink,
            env={**os.environ, "PYTHONPATH": str(APPS)},
        )
    try:
        wait_until(lambda: '"msg": "ready"' in log.read_text(), what="ready", timeout=20)
        assert (tmp_path / "checkout" / ".jobrunner" / "state.db").exists()
        assert '"level": "info"' in log.read_text()  # not a terminal: JSON lines
    finally:
        process.terminate()
        assert process.wait(20) == 0
