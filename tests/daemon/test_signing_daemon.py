"""Write access to the storage is not code execution: with a signing key, a last good copy of
a job file injected into the storage is refused, and nothing it names runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from daemon_proc import Daemon
from garbage import overwrite_value

KEY = "k" * 32
GOOD = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:record'}}\n"
BROKEN = "version: 1\nqueues:\n  work: [broken\n"


def injected(marker: Path) -> str:
    return (
        "version: 1\ncron:\n  evil:\n    every: 1s\n    handler: shell\n"
        f"    params: {{command: ['/usr/bin/touch', '{marker}']}}\n"
    )


@pytest.mark.parametrize("key", [KEY, None], ids=["signed", "unsigned"])
def test_an_injected_last_good_copy_runs_only_without_a_key(
    tmp_path: Path, key: str | None
) -> None:
    jobs, marker = tmp_path / "jobs.d", tmp_path / "pwned"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(GOOD)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    env = {"JOBRUNNER_SIGNING_KEY": key} if key else {}
    first = Daemon(jobs, url, log=tmp_path / "first.log", env=env).start()
    assert first.stop() == 0
    (jobs / "work.yaml").write_text(BROKEN)  # invalid on disk: the last good copy would run
    lastgood = {str(jobs / "work.yaml"): injected(marker)}
    overwrite_value(url, "last-good-files", json.dumps(lastgood).encode())
    second = Daemon(jobs, url, log=tmp_path / "second.log", env=env).start()
    try:
        time.sleep(3)
        if key is None:  # the attack this guards against, shown to work without a key
            assert marker.exists()
            return
        assert not marker.exists()
        messages = [e.get("msg", "") for e in second.events()]
        assert "ignored the stored value last-good-files: it is not signed" in " ".join(messages)
        assert any(m.startswith("left out") or "left out" in m for m in messages)
    finally:
        assert second.stop() == 0
