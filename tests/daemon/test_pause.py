"""Pausing a queue (`jobrunner queues pause`): honoured by running daemons within a second,
kept across a restart, lifted by `resume`; on real storage, with the daemon as a subprocess."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_proc import Daemon, lines, wait_until

from jobrunner import Client
from jobrunner.job import Job, State, new_id
from jobrunner.storage import QueueStats, Storage

JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 3
  other:
    handler: python
    params: {callable: "jobapp:record"}
  trickle:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 3
    rate_limit: 1/m
"""


@pytest.fixture
def jobs(jobs_dir: Callable[..., Path]) -> Path:
    return jobs_dir(**{"queues.yaml": JOBS})


def enqueue(store: Storage, queue: str, payload: dict[str, Any]) -> str:
    return store.enqueue(Job(id=new_id(), queue=queue, payload=payload, created=time.time()))


def state(store: Storage, job_id: str) -> State | None:
    record = store.record(job_id)
    return record.state if record else None


def queues(url: str, *args: str) -> None:
    result = run_cli("queues", *args, "--storage", url)
    assert result.returncode == 0, result.stderr


def starts(out: Path, ids: list[str]) -> list[float]:
    return [x["t"] for x in lines(out) if x["job"] in ids and x["phase"] == "start"]


def test_a_paused_queue_starts_nothing_even_after_a_restart_until_resumed(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs, url)
    queues(url, "pause", "work", "--reason", "relay down")
    ids = [enqueue(store, "work", {"out": str(out), "n": n}) for n in range(4)]
    unaffected = enqueue(store, "other", {"out": str(out)})
    wait_until(lambda: state(store, unaffected) is State.SUCCEEDED, what="the other queue ran")
    daemon.wait_for(lambda e: e.get("msg", "").startswith("queue paused"), what="the pause seen")
    time.sleep(3)
    assert starts(out, ids) == [] and all(state(store, i) is State.QUEUED for i in ids)

    assert daemon.stop() == 0
    daemon = daemons(jobs, url)  # a fresh daemon reads the pause from the storage
    time.sleep(3)
    assert starts(out, ids) == [] and store.stats()["work"].ready == 4

    resumed = time.time()
    queues(url, "resume", "work")
    wait_until(
        lambda: all(state(store, i) is State.SUCCEEDED for i in ids),
        what="the waiting jobs ran once resumed",
        timeout=10,
    )
    assert min(starts(out, ids)) - resumed < 4.5  # woken, not found by a worker's next look
    daemon.wait_for(lambda e: e.get("msg") == "queue resumed", what="the resume seen")


def test_a_pause_lets_running_jobs_finish_and_starts_no_other_within_a_second(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url)
    ids = [enqueue(store, "work", {"out": str(out), "n": n, "sleep": 1.5}) for n in range(9)]
    wait_until(lambda: len(starts(out, ids)) == 3, what="three jobs running")
    with Client(url) as client:
        client.pause("work")
    paused = time.time()
    wait_until(
        lambda: store.stats().get("work", QueueStats()).running == 0,
        what="the running jobs finished",
        timeout=10,
    )
    time.sleep(2)
    late = [t for t in starts(out, ids) if t > paused + 1.0]
    assert late == [], f"{len(late)} jobs started more than a second after the pause"
    done = [i for i in ids if state(store, i) is State.SUCCEEDED]
    assert len(done) == len(starts(out, ids)) >= 3  # what started finished normally


def test_jobs_leased_before_a_pause_but_not_started_go_back_to_the_queue(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    """Jobs a daemon holds while they wait for their rate-limit turn have not started:
    a pause puts them back, within a second, instead of letting them start later."""
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs, url)
    ids = [enqueue(store, "trickle", {"out": str(out), "n": n, "sleep": 1}) for n in range(3)]
    wait_until(lambda: len(starts(out, ids)) == 1, what="the first job started")
    wait_until(lambda: store.stats()["trickle"].running == 3, what="the others wait for their turn")
    with Client(url) as client:
        client.pause("trickle", "deploy")
    wait_until(
        lambda: store.stats()["trickle"].ready == 2,
        what="the two waiting jobs were put back",
        timeout=2,
    )
    waited = [store.record(i) for i in ids if i not in {x["job"] for x in lines(out)}]
    assert [r.state for r in waited if r] == [State.QUEUED, State.QUEUED]
    assert all("was paused before the job started" in r.reason for r in waited if r)
    wait_until(lambda: store.stats()["trickle"].running == 0, what="the first job finished")
    assert len(starts(out, ids)) == 1
    assert sum(e.get("msg") == "queue paused: job put back unstarted" for e in daemon.events()) == 2
