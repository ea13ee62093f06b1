"""`jobrunner plan`, `trigger` and the cron and problems parts of `status`, as subprocesses.

No daemon runs here: each test publishes the configuration itself, as a
daemon does, to a SQLite file in a temp dir or to our own redis-server.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import run_cli
from plans import take

from jobrunner import config
from jobrunner.job import PRIORITY_RANK, State
from jobrunner.problem import Problem, Severity
from jobrunner.reload import publish as publishing
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import open_storage

BEFORE = """\
version: 1
queues:
  emails:
    handler: shell
    params: {command: ["true"]}
    concurrency: 5
  old-queue:
    handler: shell
    params: {command: ["true"]}
cron:
  nightly:
    schedule: "0 3 * * *"
    queue: emails
    payload: {kind: nightly}
    priority: high
  cleanup:
    every: 1h
    handler: shell
    params: {command: ["true"]}
  paused:
    every: 10m
    handler: shell
    params: {command: ["true"]}
    suspend: true
"""

AFTER = """\
version: 1
queues:
  emails:
    handler: shell
    params: {command: ["true"]}
    concurrency: 10
  reports:
    handler: shell
    params: {command: ["report"]}
cron:
  nightly:
    schedule: "30 3 * * *"
    timezone: Europe/Berlin
    queue: emails
    payload: {kind: nightly}
    priority: high
  paused:
    every: 10m
    handler: shell
    params: {command: ["true"]}
    suspend: true
  weekly:
    schedule: "@weekly"
    queue: reports
    payload: {}
"""


def write(root: Path, text: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "app.yaml").write_text(text)
    return root


def publish(url: str, root: Path, text: str = BEFORE) -> dict[str, Any]:
    """Load `text` as a jobs directory and publish it as generation 1, as a daemon does."""
    loaded = config.load([write(root, text)])
    assert loaded.ok, [str(p) for p in loaded.problems]
    doc = publishing.view(loaded.config, 1).as_dict()
    storage = open_storage(url)
    try:
        storage.publish(doc)
    finally:
        storage.close()
    return doc


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, "--storage", url)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


# -- plan ----------------------------------------------------------------------------


def test_plan_prints_each_change(url: str, tmp_path: Path) -> None:
    doc = publish(url, tmp_path / "published.d")
    result = cli(url, "plan", str(write(tmp_path / "jobs.d", AFTER)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "~ queue emails: concurrency 5 → 10\n"
        "- queue old-queue\n"
        "+ queue reports\n"
        "- cron cleanup\n"
        "~ cron nightly: schedule 0 3 * * * → 30 3 * * *, timezone UTC → Europe/Berlin\n"
        "+ cron weekly\n"
    )
    assert f"against generation 1 (hash {doc['hash']})" in result.stderr


def test_plan_of_the_published_files_is_empty(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    result = cli(url, "plan", str(tmp_path / "published.d"))
    assert (result.returncode, result.stdout) == (0, "no changes\n")


def test_plan_before_anything_is_published_adds_everything(url: str, tmp_path: Path) -> None:
    result = cli(url, "plan", str(write(tmp_path / "jobs.d", BEFORE)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "+ queue emails",
        "+ queue old-queue",
        "+ cron cleanup",
        "+ cron nightly",
        "+ cron paused",
    ]
    assert "no configuration published to" in result.stderr


def test_plan_json(url: str, tmp_path: Path) -> None:
    doc = publish(url, tmp_path / "published.d")
    data = json.loads(cli(url, "plan", str(write(tmp_path / "jobs.d", AFTER)), "--json").stdout)
    assert data["published"] == {"generation": 1, "hash": doc["hash"]}
    assert data["changes"][0] == {
        "sign": "~",
        "kind": "queue",
        "name": "emails",
        "details": ["concurrency 5 → 10"],
        "line": "~ queue emails: concurrency 5 → 10",
    }
    assert [c["sign"] + c["name"] for c in data["changes"]] == [
        "~emails",
        "-old-queue",
        "+reports",
        "-cleanup",
        "~nightly",
        "+weekly",
    ]


def test_plan_refuses_invalid_files_as_validate_reports_them(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    jobs = write(tmp_path / "jobs.d", AFTER.replace("Europe/Berlin", "Europe/Berlim"))
    result = cli(url, "plan", str(jobs))
    assert result.returncode == 1
    assert result.stdout == ""
    where = re.escape(f"{jobs / 'app.yaml'}:13:15: error: cron.nightly.timezone: ")
    assert re.search(f"^{where}unknown time zone 'Europe/Berlim'", result.stderr, re.M)
    assert "1 error, 0 warnings in 1 file" in result.stderr


# -- trigger ----------------------------------------------------------------------------


def test_trigger_enqueues_the_run_a_tick_would(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    result = cli(url, "trigger", "nightly")
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    storage = open_storage(url)
    try:
        record = storage.record(job_id)
        assert record is not None and record.state is State.QUEUED
        job = record.job
        assert (job.queue, job.payload, job.cron) == ("emails", {"kind": "nightly"}, "nightly")
        assert job.priority == PRIORITY_RANK["high"]
        assert job.idempotency_key == f"cron:nightly@manual:{job_id}"
        assert storage.get_value("cron:nightly")["job"] == job_id
        assert storage.stats()["emails"].ready == 1
    finally:
        storage.close()


def test_trigger_of_an_entry_with_its_own_handler(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    before = time.time()
    first = cli(url, "trigger", "cleanup").stdout.strip()
    second = cli(url, "trigger", "cleanup").stdout.strip()
    assert first != second  # manual runs never deduplicate, not even each other
    storage = open_storage(url)
    try:
        record = storage.record(second)
        assert record is not None
        job = record.job
        assert (job.queue, job.cron, set(job.payload)) == ("cleanup", "cleanup", {"cron", "tick"})
        assert job.tick is not None and before <= job.tick <= time.time()
        assert storage.get_value("cron:cleanup")["job"] == second
    finally:
        storage.close()


def test_trigger_says_a_suspended_entry_runs_anyway(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    result = cli(url, "trigger", "paused")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{24}\n", result.stdout)
    assert "cron paused is suspended: ticks do not fire, this run does" in result.stderr


def test_trigger_refuses_an_unknown_entry(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    result = cli(url, "trigger", "nightli")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: unknown cron entry 'nightli' (did you mean 'nightly'?): the configuration "
        "in force (generation 1) has cron entries: cleanup, nightly, paused\n"
    )


def test_trigger_before_anything_is_published(url: str) -> None:
    result = cli(url, "trigger", "nightly")
    assert result.returncode == 1
    assert "no daemon has published a configuration to" in result.stderr


def test_a_triggered_run_holds_back_ticks_of_an_entry_that_forbids_overlap(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    publish(url, tmp_path / "published.d")
    job_id = cli(url, "trigger", "cleanup").stdout.strip()
    storage = open_storage(url)
    try:
        now = [datetime.now(UTC)]
        scheduler = Scheduler(storage, "s", lambda: now[0])
        take(scheduler, config.load([tmp_path / "published.d"]).config, 1)
        scheduler.entries = {"cleanup": scheduler.entries["cleanup"]}
        now[0] = now[0].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        scheduler.step()  # the hourly tick comes due while the manual run is queued
        state = storage.get_value("cron:cleanup")
        assert (state["job"], state["skipped"]) == (job_id, 1)
    finally:
        storage.close()


# -- status ------------------------------------------------------------------------------


def test_status_lists_cron_entries_and_the_problems_found(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    job_id = cli(url, "trigger", "nightly").stdout.strip()
    problem = Problem(
        "jobs.d/app.yaml",
        14,
        15,
        "cron.nightly.timezone",
        Severity.ERROR,
        "timezone",
        "unknown time zone 'Europe/Berlim' (did you mean 'Europe/Berlin'?)",
    )
    storage = open_storage(url)
    now = time.time()
    try:
        state = storage.get_value("cron:nightly")
        storage.set_value("cron:nightly", {**state, "last": now - 125, "skipped": 3, "missed": 7})
        storage.set_value(
            "problems",
            {
                "problems": [problem.as_dict()],
                "quarantined": ["jobs.d/app.yaml"],
                "left_out": ["jobs.d/new.yaml"],
                "refused": False,
                "checked": now - 5,
            },
        )
    finally:
        storage.close()
    result = cli(url, "status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(
        r"^  CRON +SCHEDULE +TARGET +LAST TICK +LAST RUN +NEXT TICK +SKIPPED +MISSED$", out, re.M
    ), out
    nightly = (
        r"^  nightly +At 03:00 every day \(UTC\) +queue emails +2m\d+s ago "
        r"+queued \(manual\) +in \S+ +3 +7$"
    )
    assert re.search(nightly, out, re.M), out
    cleanup = r"^  cleanup +Every 1h, aligned to the Unix epoch +run shell +- +- +in \S+ +0 +0$"
    assert re.search(cleanup, out, re.M), out
    assert re.search(r"^  paused +Every 10m.* +run shell +- +- +suspended +0 +0$", out, re.M), out
    # "checked 5s ago": 5 seconds and the time the CLI took to start, a few more when loaded
    assert re.sub(r"checked [5-9]s ago", "checked 5s ago", out).endswith(
        "problems: 1 error, 0 warnings (checked 5s ago)\n"
        "  jobs.d/app.yaml:14:15: error: cron.nightly.timezone: unknown time zone "
        "'Europe/Berlim' (did you mean 'Europe/Berlin'?) [timezone]\n"
        "  quarantined: jobs.d/app.yaml (the last good version stays in force)\n"
        "  left out: jobs.d/new.yaml (no good version yet: its entries do not run)\n"
    ), out

    data = json.loads(cli(url, "status", "--json").stdout)
    entry = data["crons"]["nightly"]
    assert entry["job"] == job_id and entry["job_state"] == "queued" and entry["manual"]
    assert (entry["skipped"], entry["suspended"]) == (3, False)
    assert entry["target"] == {"queue": "emails"}
    assert 0 < entry["next"] - data["now"] <= 86400
    assert data["crons"]["paused"]["next"] is None
    assert data["problems"]["problems"] == [problem.as_dict()]
    assert data["problems"]["quarantined"] == ["jobs.d/app.yaml"]


def test_status_says_when_a_change_was_refused(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    storage = open_storage(url)
    try:
        storage.set_value("problems", {"problems": [], "refused": True, "checked": time.time()})
    finally:
        storage.close()
    out = cli(url, "status").stdout
    assert "  refused: the files do not validate together" in out, out


def test_status_before_any_problems_are_recorded(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path / "published.d")
    out = cli(url, "status").stdout
    assert "\nproblems: none recorded yet" in out, out
    assert json.loads(cli(url, "status", "--json").stdout)["problems"] is None
