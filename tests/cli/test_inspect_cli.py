"""`jobrunner enqueue|status|jobs|dlq`, run as a subprocess the way operators run them.

Each test runs against a SQLite file in a temp dir and, once its backend
exists, our own redis-server.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from servers import free_port
from test_client import EMAIL, publish

from jobrunner.job import Attempt, Job, Record, State, new_id
from jobrunner.storage import open_storage

TRACEBACK = """\
Traceback (most recent call last):
  File "plugins/http.py", line 80, in run
    raise HTTPError(status)
HTTPError: 503 Service Unavailable"""


@pytest.fixture
def doc(url: str, tmp_path: Path) -> dict[str, Any]:
    """The configuration a daemon would publish: queues send-email, charge, reports."""
    return publish(url, tmp_path)


def cli(url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, "--storage", url, input=input)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def bury(
    url: str,
    queue: str = "send-email",
    payload: Any = None,
    tries: int = 1,
    error: tuple[str, str] = ("HTTPError", "503 from relay"),
) -> str:
    """A job that failed `tries` attempts with `error` (type, message) and went to the
    dead-letter queue."""
    job = Job(
        id=new_id(),
        queue=queue,
        payload=payload if payload is not None else EMAIL,
        created=time.time(),
        idempotency_key="ada@example.com:welcome",
        trace_id="ab" * 16,
    )
    storage = open_storage(url)
    try:
        storage.enqueue(job)
        [lease] = storage.lease(queue, "web1-123", count=1, lease_for=30)
        now = time.time()
        attempts = tuple(
            Attempt(n, now - 1.5, now, "failed", "web1-123", *error, TRACEBACK)
            for n in range(1, tries + 1)
        )
        reason = f"used its {tries} attempt{'s' if tries > 1 else ''}"
        dead = Record(job, State.DEAD, attempts, reason=reason, updated=now)
        storage.bury(lease, dead, keep_for=3600)
    finally:
        storage.close()
    return job.id


def state_of(url: str, job_id: str) -> str:
    result = cli(url, "jobs", "show", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["state"])


# -- enqueue ---------------------------------------------------------------------


def test_enqueue_prints_the_id_and_dedupes_by_key(url: str, doc: dict[str, Any]) -> None:
    data = json.dumps(EMAIL)
    first = cli(url, "enqueue", "send-email", "--data", data)
    assert first.returncode == 0, first.stderr
    job_id = first.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{24}", job_id)
    assert cli(url, "enqueue", "send-email", "--data", data).stdout.strip() == job_id
    assert state_of(url, job_id) == "queued"


def test_enqueue_explicit_key(url: str, doc: dict[str, Any]) -> None:
    one = cli(url, "enqueue", "reports", "--key", "batch-1").stdout.strip()
    assert (
        cli(url, "enqueue", "reports", "--key", "batch-1", "--data", '{"n": 2}').stdout.strip()
        == one
    )
    assert cli(url, "enqueue", "reports", "--key", "batch-2").stdout.strip() != one


def test_enqueue_delay_schedules(url: str, doc: dict[str, Any]) -> None:
    result = cli(url, "enqueue", "reports", "--delay", "10m", "--json")
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["state"] == "scheduled"
    assert abs(job["run_at"] - (time.time() + 600)) < 10
    shown = cli(url, "jobs", "show", job["id"]).stdout
    assert re.search(r"^due: +\S+ \S+ \(in (9m5\ds|10m)\)$", shown, re.M), shown


def test_enqueue_at_and_priority(url: str, doc: dict[str, Any]) -> None:
    result = cli(
        url, "enqueue", "reports", "--at", "2099-01-01T00:00:00Z", "--priority", "low", "--json"
    )
    job = json.loads(result.stdout)
    assert job["state"] == "scheduled" and job["priority"] == "low"
    assert job["run_at"] == 4070908800.0


def test_enqueue_data_from_file_and_stdin(url: str, doc: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "msg.json").write_text(json.dumps(EMAIL))
    from_file = cli(url, "enqueue", "send-email", "--data", f"@{tmp_path / 'msg.json'}", "--json")
    assert json.loads(from_file.stdout)["payload"] == EMAIL
    from_stdin = cli(url, "enqueue", "reports", "--data", "-", "--json", input='{"n": [1, 2]}')
    assert json.loads(from_stdin.stdout)["payload"] == {"n": [1, 2]}


def test_enqueue_refusals_exit_1(url: str, doc: dict[str, Any]) -> None:
    unknown = cli(url, "enqueue", "send-emial", "--data", json.dumps(EMAIL))
    assert unknown.returncode == 1
    assert "unknown queue 'send-emial' (did you mean 'send-email'?)" in unknown.stderr
    bad = cli(url, "enqueue", "send-email", "--data", '{"to": 5}')
    assert bad.returncode == 1
    assert "payload.to: 5 is not of type 'string'" in bad.stderr
    missing = cli(url, "enqueue", "charge", "--data", "{}")
    assert missing.returncode == 1 and "payload has no field 'order.id'" in missing.stderr
    assert bad.stdout == unknown.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "{bad"], "invalid JSON: Expecting property name"),
        (["--data", "@/nonexistent.json"], "cannot read /nonexistent.json"),
        (["--delay", "10 minutes"], "invalid duration '10 minutes'"),
        (["--at", "2099-01-01T00:00:00"], "has no UTC offset"),
        (["--priority", "urgent"], "'urgent' is not one of"),
        (["--delay", "1m", "--at", "2099-01-01T00:00:00Z"], "either --delay or --at"),
    ],
)
def test_enqueue_usage_errors_exit_2(
    url: str, doc: dict[str, Any], args: list[str], expected: str
) -> None:
    result = cli(url, "enqueue", "reports", *args)
    assert result.returncode == 2
    assert expected in result.stderr


def test_enqueue_before_any_daemon(url: str) -> None:
    result = cli(url, "enqueue", "reports")
    assert result.returncode == 1
    assert "no daemon has published a configuration to" in result.stderr


# -- status ----------------------------------------------------------------------


def test_status_lists_every_queue_and_daemon(url: str, doc: dict[str, Any]) -> None:
    cli(url, "enqueue", "send-email", "--data", json.dumps(EMAIL))
    cli(url, "enqueue", "send-email", "--data", json.dumps({**EMAIL, "to": "b"}), "--delay", "1h")
    bury(url, "charge", {"order": {"id": 1}})
    storage = open_storage(url)
    info = {"host": "web1", "pid": 123, "role": "worker", "queues": ["charge", "send-email"]}
    storage.beat(
        "web1-123", {**info, "generation": 1, "healthy": True, "seen": time.time() - 3}, 30
    )
    storage.close()
    result = cli(url, "status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"config:   generation 1, hash {doc['hash']}, 1 file\n" in out
    assert "daemons:  1 alive" in out
    daemon = r"^  web1-123 +web1 +123 +worker +1 +ok +\d+s ago +charge,send-email$"
    assert re.search(daemon, out, re.M), out
    assert re.search(r"^  charge +active +0 +0 +0 +1 +-$", out, re.M), out
    assert re.search(r"^  reports +active +0 +0 +0 +0 +-$", out, re.M), out
    assert re.search(r"^  send-email +active +1 +1 +0 +0 +\d+s$", out, re.M), out

    data = json.loads(cli(url, "status", "--json").stdout)
    assert data["config"] == {
        "generation": 1,
        "hash": doc["hash"],
        "commit": None,  # no plan recorded: the commit is unknown
        "files": doc["files"],
    }
    assert data["queues"]["reports"] == {
        "kind": "queue",
        "ready": 0,
        "scheduled": 0,
        "running": 0,
        "dead": 0,
        "oldest_ready_age": None,
        "paused": None,
    }
    assert [d["host"] for d in data["daemons"]] == ["web1"]


def test_status_before_any_daemon(url: str) -> None:
    result = cli(url, "status")
    assert result.returncode == 0
    assert "config:   none published yet" in result.stdout
    assert "daemons:  none alive" in result.stdout
    assert json.loads(cli(url, "status", "--json").stdout)["config"] is None


# -- jobs show -------------------------------------------------------------------


def test_jobs_show_a_dead_job(url: str, doc: dict[str, Any]) -> None:
    job_id = bury(url)
    result = cli(url, "jobs", "show", job_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"job:             {job_id}\n" in out
    assert "queue:           send-email\n" in out
    assert "state:           dead: used its 1 attempt\n" in out
    assert "idempotency key: ada@example.com:welcome\n" in out
    assert f"trace id:        {'ab' * 16}\n" in out
    assert re.search(r"^  #1  failed +1\.5s  .* on web1-123$", out, re.M), out
    assert "      HTTPError: 503 from relay\n" in out
    assert '        File "plugins/http.py", line 80, in run\n' in out

    data = json.loads(cli(url, "jobs", "show", job_id, "--json").stdout)
    assert data["state"] == "dead"
    [attempt] = data["attempts"]
    assert attempt["error_type"] == "HTTPError" and attempt["duration"] == pytest.approx(1.5)


def test_jobs_show_prints_a_repeated_traceback_once(url: str, doc: dict[str, Any]) -> None:
    out = cli(url, "jobs", "show", bury(url, tries=3)).stdout
    assert out.count("HTTPError: 503 from relay") == 3
    assert out.count("Traceback (most recent call last)") == 1
    assert out.count("      (traceback as in #3)\n") == 2


def test_jobs_show_unknown_id(url: str, doc: dict[str, Any]) -> None:
    result = cli(url, "jobs", "show", "nope")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: no job 'nope' in ")
    assert result.stdout == ""


# -- dlq -------------------------------------------------------------------------


def test_dlq_list_and_show(url: str, doc: dict[str, Any]) -> None:
    email, charge = bury(url), bury(url, "charge", {"order": {"id": 1}})
    listed = cli(url, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["ID", "QUEUE", "ATTEMPTS", "DIED", "REASON"]
    assert re.search(rf"^{email} +send-email +1 +\ds ago +used its 1 attempt$", listed.stdout, re.M)
    only = json.loads(cli(url, "dlq", "list", "--queue", "charge", "--json").stdout)
    assert [j["id"] for j in only] == [charge]
    limited = cli(url, "dlq", "list", "--limit", "1")
    assert len(limited.stdout.splitlines()) == 2
    assert "showing 1 of 2 dead jobs" in limited.stderr
    shown = cli(url, "dlq", "show", email)
    assert shown.returncode == 0 and "HTTPError: 503 from relay" in shown.stdout


def test_dlq_list_hints(url: str, doc: dict[str, Any]) -> None:
    assert cli(url, "dlq", "list").stderr.strip() == "no dead jobs"
    typo = cli(url, "dlq", "list", "--queue", "send-emial")
    assert "no queue 'send-emial' in this storage (did you mean 'send-email'?)" in typo.stderr


def test_dlq_show_refuses_a_live_job(url: str, doc: dict[str, Any]) -> None:
    job_id = cli(url, "enqueue", "reports").stdout.strip()
    result = cli(url, "dlq", "show", job_id)
    assert result.returncode == 1
    assert f"job '{job_id}' is not in the dead-letter queue: it is queued" in result.stderr


def test_dlq_replay_by_id(url: str, doc: dict[str, Any]) -> None:
    job_id = bury(url)
    result = cli(url, "dlq", "replay", job_id, "missing-id")
    assert result.returncode == 1
    assert result.stdout == f"replayed {job_id} (send-email)\n"
    assert "job 'missing-id' is not in the dead-letter queue" in result.stderr
    assert state_of(url, job_id) == "queued"
    again = json.loads(cli(url, "jobs", "show", job_id, "--json").stdout)
    assert len(again["attempts"]) == 1  # history kept


def test_dlq_replay_queue_and_all(url: str, doc: dict[str, Any]) -> None:
    emails = {bury(url) for _ in range(3)}
    charge = bury(url, "charge", {"order": {"id": 1}})
    result = json.loads(cli(url, "dlq", "replay", "--queue", "send-email", "--json").stdout)
    assert {r["id"] for r in result["replayed"]} == emails and result["missing"] == []
    assert state_of(url, charge) == "dead"
    everything = cli(url, "dlq", "replay", "--all")
    assert everything.stdout == f"replayed {charge} (charge)\n"
    nothing = cli(url, "dlq", "replay", "--all")
    assert nothing.returncode == 0 and "nothing replayed" in nothing.stderr


def test_dlq_filters_pick_the_dead_jobs_to_list_replay_and_purge(
    url: str, doc: dict[str, Any]
) -> None:
    relay = {bury(url) for _ in range(3)}
    slow = {bury(url, error=("TimeoutError", "relay did not answer")) for _ in range(2)}
    listed = json.loads(cli(url, "dlq", "list", "--error", "timeout", "--json").stdout)
    assert {j["id"] for j in listed} == slow
    later = cli(url, "dlq", "list", "--since", "2099-01-01")
    assert later.returncode == 0 and "no dead jobs" in later.stderr
    assert len(json.loads(cli(url, "dlq", "list", "--until", "0s", "--json").stdout)) == 5
    replay = cli(url, "dlq", "replay", "--queue", "send-email", "--error", "TIMEOUT", "--json")
    assert {r["id"] for r in json.loads(replay.stdout)["replayed"]} == slow
    assert {state_of(url, i) for i in slow} == {"queued"}
    assert {state_of(url, i) for i in relay} == {"dead"}
    purge = cli(url, "dlq", "purge", "--all", "--error", "503", "--since", "1h", "--yes")
    assert purge.returncode == 0
    assert purge.stdout.endswith("purged 3 dead jobs of every queue that match\n")
    assert all(cli(url, "jobs", "show", i).returncode == 1 for i in relay)
    bad = cli(url, "dlq", "list", "--since", "yesterday")
    assert bad.returncode == 2 and "expected a duration ago such as 30m" in bad.stderr
    with_ids = cli(url, "dlq", "replay", next(iter(slow)), "--error", "x")
    assert with_ids.returncode == 2 and "narrow --queue or --all, not IDs" in with_ids.stderr


def test_dlq_replay_warns_about_an_unconfigured_queue(url: str, doc: dict[str, Any]) -> None:
    job_id = bury(url, "retired")
    result = cli(url, "dlq", "replay", job_id)
    assert result.returncode == 0
    assert "warning: 'retired' is not configured: no worker runs it" in result.stderr


def test_dlq_purge(url: str, doc: dict[str, Any]) -> None:
    one, two = bury(url), bury(url)
    charge = bury(url, "charge", {"order": {"id": 1}})
    by_id = cli(url, "dlq", "purge", one)
    assert by_id.returncode == 0 and by_id.stdout == f"purged {one}\n"
    assert cli(url, "jobs", "show", one).returncode == 1
    by_queue = json.loads(cli(url, "dlq", "purge", "--queue", "send-email", "--json").stdout)
    assert by_queue == {"purged": 1, "missing": []}
    assert cli(url, "jobs", "show", two).returncode == 1
    rest = cli(url, "dlq", "purge", "--all", "--yes")
    assert rest.stdout == "purged 1 dead job of every queue\n"
    assert cli(url, "jobs", "show", charge).returncode == 1
    missing = cli(url, "dlq", "purge", charge)
    assert missing.returncode == 1 and "not in the dead-letter queue" in missing.stderr


def test_dlq_purge_leaves_live_jobs(url: str, doc: dict[str, Any]) -> None:
    job_id = cli(url, "enqueue", "reports").stdout.strip()
    assert cli(url, "dlq", "purge", job_id).returncode == 1
    assert state_of(url, job_id) == "queued"


@pytest.mark.parametrize("command", ["replay", "purge"])
def test_dlq_needs_exactly_one_selector(url: str, doc: dict[str, Any], command: str) -> None:
    none = cli(url, "dlq", command)
    assert none.returncode == 2
    assert f"say which dead jobs to {command}: job IDs, --queue QUEUE or --all" in none.stderr
    both = cli(url, "dlq", command, "--all", "--queue", "charge")
    assert both.returncode == 2 and "only one of them" in both.stderr


@pytest.mark.parametrize(("answer", "code", "left"), [("n", 1, 1), ("y", 0, 0)])
def test_dlq_purge_asks_on_a_terminal(
    url: str, doc: dict[str, Any], answer: str, code: int, left: int
) -> None:
    bury(url)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobrunner", "dlq", "purge", "--all", "--storage", url],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(secondary)
    os.write(primary, f"{answer}\n".encode())
    out, err = process.communicate(timeout=30)
    os.close(primary)
    assert "Delete 1 dead job of every queue for good? [y/N]" in out
    assert process.returncode == code, err
    assert len(json.loads(cli(url, "dlq", "list", "--json").stdout)) == left


# -- storage that cannot be used ---------------------------------------------------


def unreachable_urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path}"]  # a directory, not a database file
    try:
        import jobrunner.storage.redis  # noqa: F401

        urls.append(f"redis://127.0.0.1:{free_port()}/0")
    except ImportError:
        pass
    return urls


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["jobs", "show", "x"],
        ["dlq", "list"],
        ["dlq", "replay", "--all"],
        ["enqueue", "reports"],
        ["queues", "pause", "reports"],
        ["queues", "resume", "reports"],
        ["queues", "list"],
    ],
)
def test_unusable_storage_is_one_line(tmp_path: Path, args: list[str]) -> None:
    for url in unreachable_urls(tmp_path):
        result = cli(url, *args)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("Error: "), result.stderr
