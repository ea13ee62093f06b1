"""Bounded resources of one attempt, run through `worker.attempt` with real plugins and
real child processes: a result over 16 MiB fails for good in a worker thread as in a
child, and `memory_limit` stops a child process or a shell command that maps too much."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from jobrunner.config.model import Handler, Policy, Source, freeze
from jobrunner.job import Job
from jobrunner.registry import discover
from jobrunner.worker import attempt, isolation
from jobrunner.worker.attempt import Outcome, Plugins
from jobrunner.worker.lane import Lane
from jobrunner.worker.retry import Status

APPS = Path(__file__).resolve().parents[1] / "apps"
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hungry` importable in this process and in isolated children."""
    monkeypatch.syspath_prepend(str(APPS))
    monkeypatch.setenv("PYTHONPATH", str(APPS))


def run(plugin: str, params: dict[str, Any], payload: Any, **policy: Any) -> Outcome:
    lane = Lane(
        "limits",
        Handler(plugin, freeze(params)),
        Policy(**policy),
        Source("limits.yaml", 3, ("queues", "limits")),
    )
    return attempt.run(lane, Job("job-1", "limits", payload), Plugins(discover()))


# -- results ---------------------------------------------------------------------


def test_a_thread_handler_s_result_over_16_mib_fails_the_job_for_good() -> None:
    # "x" * n is n + 2 bytes of JSON: one byte over the cap, then exactly at it
    over = run("python", {"callable": "hungry:answer"}, {"bytes": isolation.MAX_ANSWER - 1})
    assert over.status is Status.PERMANENT and over.result is None
    assert over.error_type == "PermanentError"
    assert over.error == (
        "the handler's result is 16,777,217 bytes of JSON, over the limit of "
        "16,777,216 bytes (16 MiB): store large results elsewhere and return a reference to them"
    )
    at = run("python", {"callable": "hungry:answer"}, {"bytes": isolation.MAX_ANSWER - 2})
    assert at.status is Status.SUCCEEDED and len(at.result) == isolation.MAX_ANSWER - 2


def test_an_isolated_handler_s_result_over_16_mib_fails_the_same_way() -> None:
    over = run(
        "python",
        {"callable": "hungry:answer"},
        {"bytes": isolation.MAX_ANSWER},
        isolation="process",
    )
    assert over.status is Status.PERMANENT
    assert "result is over 16,777,216 bytes (16 MiB)" in over.error


# -- memory_limit -------------------------------------------------------------------


def test_an_isolated_handler_over_its_memory_limit_fails_its_attempt_saying_so() -> None:
    hog = {"callable": "hungry:allocate"}
    failed = run("python", hog, {"mb": 200}, isolation="process", memory_limit=64 * MiB)
    assert failed.status is Status.FAILED  # retried per policy, like a timeout
    assert failed.error_type == "MemoryError"
    assert failed.error == "the handler ran out of memory: it hit its memory_limit of 64 MiB"
    assert "hungry.py" in failed.traceback  # the child's own traceback
    fits = run("python", hog, {"mb": 8}, isolation="process", memory_limit=64 * MiB)
    assert (fits.status, fits.result) == (Status.SUCCEEDED, {"allocated_mb": 8})
    unbounded = run("python", hog, {"mb": 200}, isolation="process")
    assert (unbounded.status, unbounded.result) == (Status.SUCCEEDED, {"allocated_mb": 200})


def test_a_shell_command_over_its_memory_limit_fails_with_a_note_of_the_limit() -> None:
    command = {"command": [sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"]}
    failed = run("shell", command, {}, memory_limit=64 * MiB)  # in a worker thread
    assert failed.status is Status.FAILED and failed.error_type == "RuntimeError"
    assert failed.error.startswith(
        f"'{sys.executable}' exited with 1 under its memory_limit of 64 MiB, past which "
        "allocations fail (maybe the cause); stderr: Traceback"
    )
    assert failed.error.endswith("MemoryError")
    assert run("shell", command, {}).status is Status.SUCCEEDED  # no limit: it fits


def test_a_shell_command_in_an_isolated_child_is_bounded_too() -> None:
    command = {"command": [sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"]}
    failed = run("shell", command, {}, isolation="process", memory_limit=64 * MiB)
    assert failed.status is Status.FAILED
    assert "under its memory_limit of 64 MiB" in failed.error and "MemoryError" in failed.error
