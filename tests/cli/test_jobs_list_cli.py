"""`jobrunner jobs list`, run as a subprocess the way operators run it, on SQLite and Redis."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from conftest import run_cli

from jobrunner.job import Attempt, Job, Record, State, new_id
from jobrunner.storage import open_storage


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("jobs", "list", *args, "--storage", url)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def stored(url: str, *payloads: Any, dead: int | None = None) -> list[str]:
    """Jobs of queue `billing`, created 100 s apart, oldest first; job `dead` failed."""
    storage = open_storage(url)
    ids = []
    try:
        now = time.time()
        for n, payload in enumerate(payloads):
            job = Job(new_id(), "billing", payload, created=now - 100 * (len(payloads) - n))
            ids.append(storage.enqueue(job))
            if n == dead:
                failed = Attempt(1, now, now, "failed", "d1", "HTTPError", "503 from the bank")
                record = Record(job, State.DEAD, attempts=(failed,), updated=now)
                assert storage.bury(None, record, keep_for=600)
    finally:
        storage.close()
    return ids


def test_the_table_shows_each_job_and_the_way_to_the_next_page(url: str) -> None:
    first, dead, last = stored(url, {"customer": "7"}, {"customer": "42"}, {}, dead=1)
    result = cli(url, "--queue", "billing", "--limit", "2")
    assert result.returncode == 0, result.stderr
    header, *rows, footer, command = result.stdout.splitlines()
    assert header.split()[:4] == ["ID", "QUEUE", "STATE", "CREATED"]
    assert [row.split()[:3] for row in rows] == [
        [last, "billing", "queued"],
        [dead, "billing", "dead"],
    ]
    assert "1  HTTPError: 503 from the bank" in rows[1]
    assert footer == "2 jobs (2 examined); next page:"
    assert command.strip().startswith("jobrunner jobs list --queue billing --limit 2")
    cursor = command.split("--cursor ")[1].strip().strip("'")
    result = cli(url, "--queue", "billing", "--limit", "2", "--cursor", cursor)
    assert result.stdout.splitlines()[1].split()[0] == first
    assert result.stdout.splitlines()[-1] == "1 job (1 examined); no more."


def test_filters_and_json(url: str) -> None:
    text, number, dead = stored(url, {"c": {"id": "42"}}, {"c": {"id": 42}}, {"c": {}}, dead=2)

    def ids(*args: str) -> list[str]:
        result = cli(url, *args, "--json")
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        assert set(page) == {"jobs", "next", "examined"}
        return [job["id"] for job in page["jobs"]]

    assert ids("--where", 'c.id="42"') == [text]
    assert ids("--where", "payload.c.id=42") == [number]
    assert ids("--where", "c.id=nobody") == []
    assert ids("--state", "queued", "--state", "succeeded") == [number, text]
    assert ids("--since", "250s", "--queue", "billing") == [dead, number]  # 100s and 200s ago
    assert ids("--state", "dead", "--until", "50s") == [dead]
    assert ids("--until", "2000-01-01T00:00Z") == []
    assert "0 jobs (0 examined); no more." in cli(url, "--queue", "nowhere").stdout


def test_bad_options_and_cursors_are_usage_errors(url: str) -> None:
    for args, says in (
        (["--where", "customer"], "PATH=VALUE"),
        (["--where", "a..b=1"], "dotted path"),
        (["--state", "sleeping"], "sleeping"),
        (["--since", "yesterday"], "not a time"),
        (["--cursor", "j1.garbage"], "bad cursor"),
        (["--limit", "0"], "0"),
    ):
        result = cli(url, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert says in result.stderr, (args, result.stderr)
