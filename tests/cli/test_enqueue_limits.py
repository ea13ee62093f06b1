"""Inputs a producer cannot be trusted with: too large, too deep, not UTF-8. Each is refused
with a clear message and exit 1 or 2, never a traceback, and nothing is stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import run_cli

from jobrunner import Client, EnqueueError
from jobrunner.config import load
from jobrunner.reload import publish
from jobrunner.storage import open_storage

JOBS = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:record'}}\n"


@pytest.fixture
def url(tmp_path: Path) -> str:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(JOBS)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    storage = open_storage(url)
    storage.publish(publish.view(load([jobs]).config, 1).as_dict())
    storage.close()
    return url


def test_a_50_mb_payload_is_refused_before_it_is_stored(url: str, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"blob": "' + "x" * 50_000_000 + '"}')
    started = time.monotonic()
    result = run_cli("enqueue", "work", "--data", f"@{big}", "--storage", url)
    assert result.returncode == 1, result.stderr
    assert "over the limit of 1,048,576 bytes (1 MiB)" in result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - started < 30
    storage = open_storage(url)
    assert storage.stats() == {}
    storage.close()


def test_the_client_refuses_too_large_and_too_deep_payloads(url: str) -> None:
    with Client(url) as client:
        with pytest.raises(EnqueueError, match="over the limit"):
            client.enqueue("work", {"blob": "x" * (1024 * 1024)})
        deep: dict[str, object] = {}
        for _ in range(10_000):
            deep = {"d": deep}
        with pytest.raises(EnqueueError, match="nested too deeply"):
            client.enqueue("work", deep)
        assert client.enqueue("work", {"blob": "x" * 1000})  # a normal one still goes


def test_deep_or_non_utf8_input_is_a_usage_error(url: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"name": "Mü"}'.encode("latin-1"))
    for path, message in ((deep, "nested too deeply"), (latin, "is not UTF-8 text")):
        result = run_cli("enqueue", "work", "--data", f"@{path}", "--storage", url)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
