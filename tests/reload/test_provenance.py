"""The Git commit of the jobs directory, read from a real repository made with git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jobrunner.reload.provenance import git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_commit_of_a_branch_and_after_pack_refs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "jobs.d").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "jobs.d" / "a.yaml").write_text("version: 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    sha = git(repo, "rev-parse", "HEAD")
    assert git_commit(repo / "jobs.d") == sha
    git(repo, "pack-refs", "--all")
    assert git_commit(repo / "jobs.d") == sha
    git(repo, "checkout", "-q", "--detach")
    assert git_commit(repo / "jobs.d") == sha


def test_commit_of_a_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.yaml").write_text("version: 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "tree"))
    assert git_commit(tmp_path / "tree") == git(repo, "rev-parse", "HEAD")


def test_no_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
