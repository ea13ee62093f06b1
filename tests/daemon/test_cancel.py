"""Cancelling jobs (`jobrunner jobs cancel`) and putting them back (`jobs retry`): a
waiting job never runs, a running `shell` command is killed with its process group, a
cooperative in-process handler sees `ctx.cancelled`; none is retried. On real storage,
with the daemon as a subprocess."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_proc import Daemon, lines, wait_until

from jobrunner.job import Job, Record, State, new_id
from jobrunner.storage import Storage

JOBS = """\
version: 1
defaults:
  retry: {{attempts: 5, backoff: fixed, delay: 100ms}}
queues:
  work:
    handler: python
    params: {{callable: "jobapp:record"}}
  polite:
    handler: python
    params: {{callable: "jobapp:cooperative"}}
  isolated:
    handler: python
    params: {{callable: "jobapp:hang"}}
    isolation: process
  slow:
    handler: shell
    params: {{command: ["sh", "-c", "echo $$ > {pidfile}; exec sleep 300"]}}
"""


@pytest.fixture
def pidfile(tmp_path: Path) -> Path:
    return tmp_path / "shell.pid"


@pytest.fixture
def jobs(jobs_dir: Callable[..., Path], pidfile: Path) -> Path:
    return jobs_dir(**{"queues.yaml": JOBS.format(pidfile=pidfile)})


def enqueue(store: Storage, queue: str, payload: dict[str, Any], delay: float = 0) -> str:
    job = Job(id=new_id(), queue=queue, payload=payload, created=time.time())
    return store.enqueue(job, delay=delay)


def record(store: Storage, job_id: str) -> Record:
    found = store.record(job_id)
    assert found is not None
    return found


def cancel(url: str, *ids: str) -> str:
    result = run_cli("jobs", "cancel", *ids, "--storage", url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def cancelled_once(store: Storage, job_id: str) -> Record:
    wait_until(
        lambda: record(store, job_id).state is State.CANCELLED, what="the job cancelled", timeout=5
    )
    time.sleep(1)  # no retry comes after it
    found = record(store, job_id)
    assert found.state is State.CANCELLED
    assert [a.outcome for a in found.attempts] == ["cancelled"]
    return found


def test_a_waiting_job_never_runs_and_a_retried_one_does(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    later = enqueue(store, "work", {"out": str(out), "n": 1}, delay=2)
    assert "cancelled" in cancel(url, later)
    daemons(jobs, url)
    queued = enqueue(store, "work", {"out": str(out), "n": 2, "sleep": 1})
    blocked = enqueue(store, "work", {"out": str(out), "n": 3})  # waits behind `queued`
    assert "cancelled" in cancel(url, blocked)
    wait_until(lambda: record(store, queued).state is State.SUCCEEDED, what="the first job ran")
    time.sleep(2.5)  # `later` was due by now
    assert {x["n"] for x in lines(out)} == {2}
    for job_id in (later, blocked):
        assert record(store, job_id).state is State.CANCELLED and not record(store, job_id).attempts
    unknown = run_cli("jobs", "cancel", "no-such-job", "--storage", url)
    assert unknown.returncode == 1 and "no-such-job" in unknown.stderr

    retried = run_cli("jobs", "retry", blocked, "--storage", url)
    assert retried.returncode == 0, retried.stderr
    wait_until(lambda: record(store, blocked).state is State.SUCCEEDED, what="the retried job ran")
    assert {x["n"] for x in lines(out)} == {2, 3}


def test_a_running_shell_command_is_killed_with_its_group_and_not_retried(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], pidfile: Path
) -> None:
    daemon = daemons(jobs, url)
    job_id = enqueue(store, "slow", {})
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the command ran")
    pgid = int(pidfile.read_text())
    os.killpg(pgid, 0)  # running
    asked = time.time()
    assert "cancel requested" in cancel(url, job_id)
    found = cancelled_once(store, job_id)
    assert found.updated - asked < 2.5
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    daemon.wait_for(lambda e: e.get("msg") == "job cancelled", what="the cancel logged")


def test_a_cooperative_handler_sees_ctx_cancelled(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url)
    job_id = enqueue(store, "polite", {"out": str(out)})
    wait_until(lambda: out.exists() and lines(out), what="the handler started")
    assert "cancel requested" in cancel(url, job_id)
    cancelled_once(store, job_id)
    assert [x["phase"] for x in lines(out)] == ["start", "cancelled"]
    again = run_cli("jobs", "cancel", job_id, "--storage", url)
    assert again.returncode == 0 and "already finished" in again.stdout


def test_a_running_isolated_handler_is_killed_and_not_retried(
    jobs: Path, url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    daemons(jobs, url)
    job_id = enqueue(store, "isolated", {"out": str(out)})
    wait_until(lambda: out.exists() and lines(out), what="the child started")
    pgid = lines(out)[0]["pid"]  # the child leads a session (and process group) of its own
    os.killpg(pgid, 0)
    assert "cancel requested" in cancel(url, job_id)
    cancelled_once(store, job_id)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
