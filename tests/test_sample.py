"""The shipped sample configuration and the published schema stay valid and in sync."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli


def test_sample_jobs_dir_validates() -> None:
    result = run_cli("validate", "jobs.d", "--strict", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("ok: ")


def test_committed_schema_is_current() -> None:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "schemas" / "jobfile.v1.json").read_text()
    assert json.loads(result.stdout) == json.loads(committed), (
        "schemas/jobfile.v1.json is stale: run `jobrunner schema > schemas/jobfile.v1.json`"
    )
