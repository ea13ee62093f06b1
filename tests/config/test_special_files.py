"""`validate` reports job files that are not regular files instead of skipping them."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import run_cli


def test_a_fifo_a_device_and_a_broken_link_are_problems_not_silence(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "ok.yaml").write_text("version: 1\n")
    os.mkfifo(jobs / "pipe.yaml")
    (jobs / "zero.yaml").symlink_to("/dev/zero")
    (jobs / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (jobs / "folder.yaml").mkdir()  # a directory with a job file's name is just a directory
    result = run_cli("validate", str(jobs))
    assert result.returncode == 1
    assert f"{jobs}/pipe.yaml:1:1: error: cannot read file: not a regular file" in result.stdout
    assert f"{jobs}/zero.yaml:1:1: error: cannot read file: not a regular file" in result.stdout
    assert f"{jobs}/gone.yaml:1:1: error: cannot read file: No such file" in result.stdout
    assert "folder.yaml" not in result.stdout
