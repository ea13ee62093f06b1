"""`jobrunner queues pause|resume|list`, run as a subprocess the way operators run them,
against a SQLite file in a temp dir and our own redis-server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from garbage import write_pause
from test_client import publish

from jobrunner.job import Job, new_id
from jobrunner.storage import open_storage

GONE = """\
version: 1
queues:
  reports:
    handler: shell
    params: {command: ["true"]}
"""


@pytest.fixture
def doc(url: str, tmp_path: Path) -> dict[str, Any]:
    """The configuration a daemon would publish: queues send-email, charge, reports."""
    return publish(url, tmp_path)


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("queues", *args, "--storage", url)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def test_pause_list_and_resume(url: str, doc: dict[str, Any]) -> None:
    paused = cli(url, "pause", "send-email", "--reason", "relay down (INC-4711)")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == (
        "paused send-email: its jobs wait until `jobrunner queues resume send-email`\n"
    )
    storage = open_storage(url)
    storage.enqueue(Job(id=new_id(), queue="send-email", payload={}))  # enqueues still work
    storage.close()

    listed = cli(url, "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^send-email +paused +1 +0 +0 +0 +\d+s$", listed.stdout, re.M), listed.stdout
    assert re.search(r"^charge +active +0 +0 +0 +0 +-$", listed.stdout, re.M), listed.stdout
    line = r"^send-email: paused \d+s ago by \S+@\S+: relay down \(INC-4711\)$"
    assert re.search(line, listed.stdout, re.M), listed.stdout
    status = run_cli("status", "--storage", url)
    assert re.search(r"^  send-email +paused +1 +0 +0 +0 +\d+s$", status.stdout, re.M), (
        status.stdout
    )
    data = json.loads(run_cli("status", "--json", "--storage", url).stdout)
    assert data["queues"]["send-email"]["paused"]["reason"] == "relay down (INC-4711)"
    assert data["queues"]["charge"]["paused"] is None
    listed_json = json.loads(cli(url, "list", "--json").stdout)["queues"]
    ages = [
        q.pop("oldest_ready_age") for q in (listed_json["send-email"], data["queues"]["send-email"])
    ]
    assert all(isinstance(age, float) and 0 <= age < 60 for age in ages)
    assert listed_json == data["queues"]  # the same read model, a moment later

    resumed = cli(url, "resume", "send-email")
    assert resumed.returncode == 0, resumed.stderr
    assert re.match(r"resumed send-email \(paused \d+s ago by .+: relay down", resumed.stdout)
    again = cli(url, "resume", "send-email")
    assert again.returncode == 0
    assert again.stderr == "send-email was not paused: nothing to resume\n"
    assert "paused" not in cli(url, "list").stdout


def test_json_output(url: str, doc: dict[str, Any]) -> None:
    paused = json.loads(cli(url, "pause", "reports", "--json").stdout)
    assert paused["queue"] == "reports" and paused["paused"]["reason"] == ""
    assert isinstance(paused["paused"]["since"], float) and "@" in paused["paused"]["by"]
    resumed = json.loads(cli(url, "resume", "reports", "--json").stdout)
    assert resumed == {"queue": "reports", "resumed": True, "pause": paused["paused"]}
    assert json.loads(cli(url, "resume", "reports", "--json").stdout)["resumed"] is False


def test_an_unknown_queue_is_refused_with_a_suggestion(url: str, doc: dict[str, Any]) -> None:
    for command in ("pause", "resume"):
        result = cli(url, command, "send-emial")
        assert result.returncode == 1
        assert result.stderr == (
            "Error: unknown queue 'send-emial' (did you mean 'send-email'?): the configuration "
            "in force (generation 1) has queues: charge, reports, send-email\n"
        )
    assert "paused" not in cli(url, "list").stdout


def test_nothing_published_yet(url: str) -> None:
    result = cli(url, "pause", "reports")
    assert result.returncode == 1
    assert "no daemon has published a configuration to" in result.stderr
    assert cli(url, "list").stdout == "no queues: no daemon has published any yet\n"


def test_a_reason_must_fit_in_a_line(url: str, doc: dict[str, Any]) -> None:
    result = cli(url, "pause", "reports", "--reason", "x" * 1001)
    assert result.returncode == 1
    assert "over the limit of 1000" in result.stderr


def test_a_paused_queue_no_longer_configured_can_still_be_resumed(
    url: str, doc: dict[str, Any], tmp_path: Path
) -> None:
    assert cli(url, "pause", "send-email").returncode == 0
    publish(url, tmp_path, GONE, generation=2)  # send-email was removed from the files
    assert re.search(r"^send-email \(other\) +paused", cli(url, "list").stdout, re.M)
    result = cli(url, "resume", "send-email")
    assert result.returncode == 0, result.stderr
    assert "send-email" not in cli(url, "list").stdout


def test_garbage_where_the_pause_is_kept_is_shown_not_fatal(url: str, doc: dict[str, Any]) -> None:
    storage = open_storage(url)
    storage.enqueue(Job(id=new_id(), queue="reports", payload={}))  # the storage knows it
    storage.close()
    write_pause(url, "reports", b"\x80 not json")
    listed = cli(url, "list")
    assert listed.returncode == 0
    assert re.search(r"^reports +paused", listed.stdout, re.M), listed.stdout
    assert "warning: queue reports: its pause does not read (not JSON" in listed.stderr
    status = json.loads(run_cli("status", "--json", "--storage", url).stdout)
    assert "not JSON" in status["queues"]["reports"]["paused"]["unreadable"]
    assert [p["what"] for p in status["storage_problems"]] == ["queue reports"]
    assert cli(url, "resume", "reports").returncode == 0


@pytest.mark.parametrize("command", ["pause", "resume", "list"])
def test_help_has_examples(command: str) -> None:
    result = run_cli("queues", command, "--help")
    assert result.returncode == 0
    assert "Examples:\n  jobrunner queues " + command in result.stdout.replace("    ", "  ")
