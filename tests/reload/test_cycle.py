"""The reload cycle without a process: files in a temp dir, SQLite storage, a real scheduler.

read → judge → plan → publish → apply, and what each step leaves in storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobrunner.registry import discover
from jobrunner.reload.apply import Runtime
from jobrunner.reload.cycle import Reloader
from jobrunner.reload.in_force import InForce
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, open_storage, records

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUEUE = "version: 1\nqueues:\n  emails: {handler: python, params: {callable: 'jobapp:record'}}\n"
CRON = "version: 1\ncron:\n  tick: {every: 1h, queue: emails}\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'state.db'}")
    yield storage
    storage.close()


def reloader(jobs: Path, store: Storage) -> Reloader:
    """A fresh daemon's reloader: nothing in force yet."""
    scheduler = Scheduler(store, "test", lambda: NOW)
    return Reloader(store, discover(), jobs, InForce(), Runtime(None, scheduler), lambda: NOW)


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "queue.yaml").write_text(QUEUE)
    (root / "cron.yaml").write_text(CRON)
    return root


def test_the_first_load_adds_everything_publishes_generation_1_and_arms_the_scheduler(
    jobs: Path, store: Storage
) -> None:
    r = reloader(jobs, store)
    applied = r.reload()
    assert applied is not None and str(applied) == "+ queue emails\n+ cron tick"
    published = records.read_published(store)
    assert published is not None and published.generation == 1
    assert r.in_force.generation == 1 and set(r.in_force.lanes) == {"emails"}
    assert r.runtime.scheduler is not None and set(r.runtime.scheduler.entries) == {"tick"}
    assert records.read_last_good(store).files == {
        str(jobs / "cron.yaml"): CRON.encode(),
        str(jobs / "queue.yaml"): QUEUE.encode(),
    }
    assert records.read_problems(store) == records.ProblemsRecord(checked=NOW.timestamp())


def test_unchanged_files_are_not_judged_again_unless_forced(jobs: Path, store: Storage) -> None:
    r = reloader(jobs, store)
    r.reload()
    assert r.reload(only_if_changed=True) is None  # the watcher's catch-up: nothing to do
    forced = r.reload()  # SIGHUP: judged again, nothing to change, same generation
    assert forced is not None and not forced and r.in_force.generation == 1


def test_a_change_is_planned_against_what_runs_and_gets_the_next_generation(
    jobs: Path, store: Storage
) -> None:
    r = reloader(jobs, store)
    r.reload()
    (jobs / "queue.yaml").write_text(QUEUE.replace("}}", "}, concurrency: 4}"))
    applied = r.reload(only_if_changed=True)
    assert applied is not None and str(applied) == "~ queue emails: concurrency 1 → 4"
    assert r.in_force.generation == 2 and r.in_force.lanes["emails"].concurrency == 4


def test_a_second_daemon_on_the_same_files_applies_everything_in_the_same_generation(
    jobs: Path, store: Storage
) -> None:
    reloader(jobs, store).reload()
    other = reloader(jobs, store)
    applied = other.reload()
    assert applied is not None and len(applied.changes) == 2  # it runs nothing yet
    assert other.in_force.generation == 1  # the same configuration: no new generation


def test_a_bad_file_is_quarantined_recorded_and_survives_a_restart(
    jobs: Path, store: Storage
) -> None:
    reloader(jobs, store).reload()
    (jobs / "cron.yaml").write_text("version: 1\ncron:\n  tick: {every: soon, queue: emails}\n")
    restarted = reloader(jobs, store)  # a new process: the last good version comes from storage
    assert restarted.prepare(startup=True) is not None
    restarted.reload()
    assert set(restarted.in_force.config.crons) == {"tick"}
    assert restarted.in_force.generation == 1  # the last good version: the same configuration
    problems = records.read_problems(store)
    assert problems is not None and problems.quarantined == (str(jobs / "cron.yaml"),)
    assert [p.path for p in problems.problems] == ["cron.tick.every"]


def test_a_combination_that_does_not_validate_changes_nothing(jobs: Path, store: Storage) -> None:
    r = reloader(jobs, store)
    r.reload()
    (jobs / "queue.yaml").write_text("version: 1\nqueues: {emails: [broken\n")
    (jobs / "other.yaml").write_text(QUEUE)  # emails again: a duplicate of the last good one
    assert r.reload() is None
    problems = records.read_problems(store)
    assert problems is not None and problems.refused
    assert r.in_force.generation == 1 and set(r.in_force.lanes) == {"emails"}


def test_a_new_generation_records_its_plan_and_a_daemon_catching_up_keeps_it(
    jobs: Path, store: Storage, tmp_path: Path
) -> None:
    commit = "fbff3d3018f4cdc3eff6e8dee87a7ddd3c5165eb"
    (tmp_path / ".git").mkdir()  # jobs.d in a Git checkout, HEAD detached at `commit`
    (tmp_path / ".git" / "HEAD").write_text(commit + "\n")
    r = reloader(jobs, store)
    r.reload()
    first = records.AppliedPlan(1, 0, commit, NOW.timestamp(), ("+ queue emails", "+ cron tick"))
    assert records.read_plan(store) == first
    r.reload()  # judged again, nothing changed: the record stays
    assert records.read_plan(store) == first
    (jobs / "queue.yaml").write_text(QUEUE.replace("}}", "}, concurrency: 4}"))
    r.reload()
    second = records.AppliedPlan(
        2, 1, commit, NOW.timestamp(), ("~ queue emails: concurrency 1 → 4",)
    )
    assert records.read_plan(store) == second
    other = reloader(jobs, store)  # a second daemon catches up to generation 2
    applied = other.reload()
    assert applied is not None and len(applied.changes) == 2 and other.in_force.generation == 2
    assert records.read_plan(store) == second  # not its own "+ queue emails, + cron tick"


def test_the_applied_plan_record_tolerates_garbage(store: Storage) -> None:
    store.set_value(records.PLAN_KEY, {"generation": "2", "changes": ["+ queue a", 3, None]})
    assert records.read_plan(store) == records.AppliedPlan(0, 0, changes=("+ queue a",))
    store.set_value(records.PLAN_KEY, ["not", "an", "object"])
    assert records.read_plan(store) is None
