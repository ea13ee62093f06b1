"""Hot reload of a running daemon: schedules, queues, bad files, restarts."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon_proc import Daemon, lines, wait_until

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage


def cron_file(out: Path, schedule: str, name: str = "beat", extra: str = "") -> str:
    return f"""\
version: 1
cron:
  {name}:
    {schedule}
    handler: python
    params: {{callable: "jobapp:record"}}
    overlap: allow
{extra}"""


def fired(daemon: Daemon, cron: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("msg") == "cron fired" and e.get("cron") == cron]


def beating(
    jobs_dir: Any, daemons: Callable[..., Daemon], url: str, out: Path
) -> tuple[Path, Daemon]:
    """A jobs dir with a cron entry `beat` every second, and a daemon it has fired in."""
    jobs = jobs_dir(**{"cron.yaml": cron_file(out, "every: 1s")})
    daemon = daemons(jobs, url)
    wait_until(lambda: len(fired(daemon, "beat")) >= 1, what="beat fires")
    return jobs, daemon


def save(path: Path, text: str) -> float:
    """Write like an editor does: a temp file renamed over the original."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    temp.replace(path)
    return time.time()


def test_editing_a_schedule_applies_within_a_second(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs = jobs_dir(**{"cron.yaml": cron_file(out, 'schedule: "0 0 1 1 *"')})
    daemon = daemons(jobs, url)
    assert fired(daemon, "beat") == []
    saved = save(jobs / "cron.yaml", cron_file(out, "every: 1s"))
    daemon.wait_for(
        lambda e: e.get("msg") == "configuration in force" and e.get("generation") == 2,
        what="the new configuration",
        timeout=5,
    )
    wait_until(lambda: len(fired(daemon, "beat")) >= 2, what="the new schedule fires", timeout=5)
    first = fired(daemon, "beat")[0]
    assert _ts(first["ts"]) - saved < 2.0  # applied and fired at the next whole second
    plan = [e["msg"] for e in daemon.events() if e.get("msg", "").startswith("plan:")]
    assert plan[-1] == (
        "plan: ~ cron beat: every none → 1s, schedule 0 0 1 1 * → none, timezone UTC → none"
    )


def test_adding_and_removing_queues_and_cron_entries(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs, daemon = beating(jobs_dir, daemons, url, out)
    (jobs / "queue.yaml").write_text("""\
version: 1
queues:
  added:
    handler: python
    params: {callable: "jobapp:record"}
""")
    daemon.wait_for(lambda e: e.get("msg") == "plan: + queue added", what="queue added")
    job = store.enqueue(Job(new_id(), "added", {"out": str(out), "n": 7}, created=time.time()))
    wait_until(
        lambda: (r := store.record(job)) is not None and r.state is State.SUCCEEDED,
        what="the added queue serves",
        timeout=10,
    )

    (jobs / "cron.yaml").unlink()
    daemon.wait_for(lambda e: e.get("msg") == "plan: - cron beat", what="cron removed")
    time.sleep(0.3)
    count = len(fired(daemon, "beat"))
    time.sleep(2.2)
    assert len(fired(daemon, "beat")) == count, "a removed entry stops firing"

    waiting = store.enqueue(
        Job(new_id(), "added", {"out": str(out)}, created=time.time()), delay=3600
    )
    (jobs / "queue.yaml").unlink()
    daemon.wait_for(lambda e: e.get("msg") == "plan: - queue added", what="queue removed")
    record = store.record(waiting)
    assert record is not None and record.state is State.SCHEDULED  # kept until due, then DLQ


def test_an_invalid_edit_keeps_the_previous_schedule_and_is_reported(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs, daemon = beating(jobs_dir, daemons, url, out)
    save(jobs / "cron.yaml", cron_file(out, 'schedule: "61 * * * *"'))
    daemon.wait_for(lambda e: "invalid cron expression" in e.get("msg", ""), what="the error")
    before = len(fired(daemon, "beat"))
    wait_until(lambda: len(fired(daemon, "beat")) >= before + 2, what="the old schedule fires")
    problems = store.get_value("problems")
    assert problems["quarantined"] == [str(jobs / "cron.yaml")]
    [problem] = problems["problems"]
    assert (problem["line"], problem["path"]) == (4, "cron.beat.schedule")


def test_a_restart_with_a_bad_file_runs_its_last_good_version(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs, first = beating(jobs_dir, daemons, url, out)
    assert first.stop() == 0
    (jobs / "cron.yaml").write_text("version: 1\ncron: [not, a, mapping]\n")
    second = daemons(jobs, url)
    second.wait_for(
        lambda e: "started with the last good version" in e.get("msg", ""),
        what="the daemon says so",
    )
    wait_until(lambda: len(fired(second, "beat")) >= 1, what="the last good version fires")


def test_sighup_reloads(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs = jobs_dir(**{"cron.yaml": cron_file(out, 'schedule: "0 0 1 1 *"')})
    daemon = daemons(jobs, url, "--no-watch")
    (jobs / "cron.yaml").write_text(cron_file(out, "every: 1s"))
    time.sleep(0.5)
    assert fired(daemon, "beat") == []
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: len(fired(daemon, "beat")) >= 1, what="fires after SIGHUP")


def test_starting_deadline_catch_up_after_downtime(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs = jobs_dir(
        **{
            "a.yaml": cron_file(out, "every: 2s", "catches-up", "    starting_deadline: 1m\n")
            + cron_file(out, "every: 2s", "never", "    starting_deadline: 0\n").replace(
                "version: 1\ncron:\n", ""
            )
        }
    )
    first = daemons(jobs, url)
    wait_until(
        lambda: len(fired(first, "catches-up")) >= 1 and len(fired(first, "never")) >= 1,
        what="both fire",
    )
    assert first.stop() == 0
    time.sleep(6.5)  # three ticks pass while no daemon runs
    second = daemons(jobs, url)
    time.sleep(0.5)
    catch_ups = [e for e in fired(second, "catches-up") if e.get("catch_up")]
    assert len(catch_ups) == 1
    assert not [e for e in fired(second, "never") if e.get("catch_up")]


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_overlap_forbid_skips_ticks_while_a_run_goes_on_and_records_them(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    jobs = jobs_dir(
        **{
            "long.yaml": f"""\
version: 1
queues:
  slow:
    handler: python
    params: {{callable: "jobapp:record"}}
cron:
  long:
    every: 1s
    queue: slow
    payload: {{out: "{out}", sleep: 3.5}}
    overlap: forbid
"""
        }
    )
    daemon = daemons(jobs, url)
    wait_until(
        lambda: (
            len([e for e in daemon.events() if e.get("msg", "").startswith("tick skipped")]) >= 3
        ),
        what="three skips",
        timeout=15,
    )
    skips = [e for e in daemon.events() if e.get("msg", "").startswith("tick skipped")]
    assert all(e["cron"] == "long" and e["previous"] for e in skips)
    assert store.get_value("cron:long")["skipped"] >= 3
    starts = [x for x in lines(out) if x["phase"] == "start"]
    ends = [x for x in lines(out) if x["phase"] == "end"]
    assert len(starts) <= len(ends) + 1, "never two runs at once"
