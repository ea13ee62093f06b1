"""Strict mode: a daemon running as root refuses job files and directories others could write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from daemon_proc import Daemon

from jobrunner.reload import strict
from jobrunner.storage import open_storage, records

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="strict mode applies to root only"
)
GOOD = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:record'}}\n"
OTHER = "version: 1\nqueues:\n  other: {handler: python, params: {callable: 'jobapp:record'}}\n"


def jobs_dir(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir(mode=0o755)
    (jobs / "work.yaml").write_text(GOOD)
    (jobs / "other.yaml").write_text(OTHER)
    return jobs


def test_a_file_writable_by_others_is_left_out_with_the_reason(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path)
    (jobs / "other.yaml").chmod(0o666)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(jobs, url, log=tmp_path / "daemon.log").start()
    try:
        store = open_storage(url)
        published = records.read_published(store)
        problems = records.read_problems(store)
        store.close()
        assert published is not None and set(published.queues) == {"work"}
        assert problems is not None and problems.left_out == (str(jobs / "other.yaml"),)
        [problem] = problems.problems
        assert "refused (strict mode)" in problem.message and "by others" in problem.message
    finally:
        assert daemon.stop() == 0


def test_no_strict_runs_it(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path)
    (jobs / "other.yaml").chmod(0o666)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(jobs, url, "--no-strict", log=tmp_path / "daemon.log").start()
    try:
        store = open_storage(url)
        published = records.read_published(store)
        store.close()
        assert published is not None and set(published.queues) == {"work", "other"}
    finally:
        assert daemon.stop() == 0


def test_a_jobs_directory_writable_by_others_stops_the_start(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path)
    jobs.chmod(0o777)
    daemon = Daemon(jobs, f"sqlite:///{tmp_path / 'state.db'}", log=tmp_path / "daemon.log")
    with pytest.raises(AssertionError, match=r"daemon exited \(1\)"):
        daemon.start()
    assert "not starting: refused (strict mode)" in (tmp_path / "daemon.log").read_text()


def test_files_owned_by_another_user_are_refused(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path)
    os.chown(jobs / "work.yaml", 1234, 1234)
    reason = strict.why_not(jobs / "work.yaml")
    assert reason is not None and "owned by uid 1234" in reason
    assert strict.why_not(jobs / "other.yaml") is None
