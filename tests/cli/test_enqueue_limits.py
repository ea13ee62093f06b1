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

JOBS = """\
version: 1
queues:
  work: {handler: python, params: {callable: 'jobapp:record'}}
  pings:
    handler: python
    params: {callable: 'jobapp:record'}
    max_payload: 1KiB
  uploads:
    handler: python
    params: {callable: 'jobapp:record'}
    max_payload: 4MiB
"""


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


def test_a_queue_s_max_payload_is_enforced_by_the_cli_with_its_source(
    url: str, tmp_path: Path
) -> None:
    blob = tmp_path / "blob.json"
    blob.write_text('{"blob": "' + "x" * 1100 + '"}')  # 10 + 1,100 + 2 bytes of JSON
    result = run_cli("enqueue", "pings", "--data", f"@{blob}", "--storage", url)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "Error: payload for queue 'pings' is 1,112 bytes, over the queue's max_payload of "
        f"1,024 bytes (1 KiB), set in {tmp_path / 'jobs.d' / 'work.yaml'}:4: store large data "
        "elsewhere and enqueue a reference to it (a URL, a path, a key)\n"
    )
    assert run_cli("enqueue", "work", "--data", f"@{blob}", "--storage", url).returncode == 0
    storage = open_storage(url)
    assert "pings" not in storage.stats() and "work" in storage.stats()  # only the one that fit
    storage.close()


def test_the_client_takes_each_queue_s_own_limit(url: str) -> None:
    with Client(url) as client:
        with pytest.raises(EnqueueError, match=r"over the queue's max_payload of 1,024 bytes"):
            client.enqueue("pings", {"note": "x" * 1024})
        assert client.enqueue("pings", {"note": "x" * 900})
        two_mib = {"blob": "x" * (2 * 1024 * 1024)}
        with pytest.raises(
            EnqueueError, match=r"or raise the queue's max_payload \(/.*/work.yaml:3\)"
        ):
            client.enqueue("work", two_mib)  # the default 1 MiB
        assert client.enqueue("uploads", two_mib)  # raised to 4 MiB
        with pytest.raises(
            EnqueueError, match=r"4,194,304 bytes \(4 MiB\), set in /.*/work.yaml:8:"
        ):
            client.enqueue("uploads", {"blob": "x" * (4 * 1024 * 1024)})
