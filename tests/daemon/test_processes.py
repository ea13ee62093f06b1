"""`jobrunner run --processes N`: one daemon runs jobs in N processes, each reloading within a
second; the first alone fires ticks (each once); a worker process that dies is started again;
a stop reaches every process, and a killed daemon leaves no worker process behind; `/metrics`
counts the jobs of them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_proc import Daemon, lines, wait_until
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, tool

from jobrunner.daemon.workers import RESTART_FIRST, WorkerProcesses, available_cpus
from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage

QUEUE = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:record"}
    concurrency: 2
"""

CRON = """\
version: 1
cron:
  beat:
    every: 1s
    handler: python
    params: {callable: "jobapp:record"}
    overlap: allow
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # not a zombie


def workers(daemon: Daemon) -> list[int]:
    """The pids of the worker processes the daemon said it started."""
    return [e["pid"] for e in daemon.events() if e.get("msg") == "worker process started"]


def ready(daemon: Daemon, count: int) -> list[dict[str, Any]]:
    wait_until(
        lambda: sum(e.get("msg") == "ready" for e in daemon.events()) >= count,
        what=f"{count} processes ready",
    )
    return [e for e in daemon.events() if e.get("msg") == "ready"]


def test_jobs_run_in_every_process_and_a_stop_reaches_them_all(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs_dir(**{"q.yaml": QUEUE}), url, "--processes", "3")
    started = ready(daemon, 3)
    assert [e["crons"] for e in started].count(0) >= 2  # worker processes fire no ticks
    children = workers(daemon)
    assert len(children) == 2 and all(alive(pid) for pid in children)

    ids = [
        store.enqueue(Job(new_id(), "work", {"out": str(out), "n": n, "sleep": 0.2}))
        for n in range(30)
    ]
    wait_until(
        lambda: all((r := store.record(i)) is not None and r.state is State.SUCCEEDED for i in ids),
        what="every job succeeded",
    )
    pids = {line["pid"] for line in lines(out)}
    assert pids == {daemon.process.pid, *children}  # type: ignore[union-attr]

    assert daemon.stop() == 0
    wait_until(lambda: not any(alive(pid) for pid in children), what="workers stopped", timeout=10)


def test_a_worker_process_that_dies_is_started_again(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    daemon = daemons(jobs_dir(**{"q.yaml": QUEUE}), url, "--processes", "2")
    ready(daemon, 2)
    [first] = workers(daemon)
    os.kill(first, signal.SIGKILL)
    exited = daemon.wait_for(
        lambda e: e.get("msg") == "worker process exited; starting it again", what="noticed"
    )
    assert exited["pid"] == first and exited["status"] == "killed by SIGKILL"
    wait_until(lambda: len(workers(daemon)) == 2, what="started again", timeout=10)
    second = workers(daemon)[1]
    assert second != first and alive(second)
    assert daemon.stop() == 0
    wait_until(lambda: not alive(second), what="worker stopped", timeout=10)


def test_a_killed_daemon_leaves_no_worker_process(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    daemon = daemons(jobs_dir(**{"q.yaml": QUEUE}), url, "--processes", "3")
    ready(daemon, 3)
    children = workers(daemon)
    daemon.kill()  # SIGKILL: no chance to pass anything on
    wait_until(
        lambda: not any(alive(pid) for pid in children),
        what="the orphaned workers stopped",
        timeout=15,
    )


def test_a_reload_applies_in_every_process_and_ticks_fire_once(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    jobs = jobs_dir(**{"q.yaml": QUEUE})
    daemon = daemons(jobs, url, "--processes", "3")
    ready(daemon, 3)
    (jobs / "cron.yaml").write_text(CRON)
    wait_until(
        lambda: sum(e.get("msg") == "plan: + cron beat" for e in daemon.events()) == 3,
        what="every process applied the change",
        timeout=10,
    )
    wait_until(lambda: len(fired(daemon)) >= 4, what="a few ticks", timeout=15)
    ticks = Counter(e["tick"] for e in fired(daemon))
    assert max(ticks.values()) == 1, ticks  # only the first process fires, and once
    runs = Counter(e["job"] for e in fired(daemon))
    assert max(runs.values()) == 1


def test_only_the_daemon_watches_the_files_and_passes_a_change_on(
    tmp_path: Path, url: str, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    jobs = jobs_dir(**{"q.yaml": QUEUE})
    daemon = daemons(jobs, url, "--processes", "2")
    ready(daemon, 2)
    assert daemon.process is not None
    applied = lambda: [e for e in daemon.events() if e.get("msg") == "plan: + cron beat"]  # noqa: E731
    os.kill(daemon.process.pid, signal.SIGSTOP)  # the daemon cannot pass the change on
    try:
        (jobs / "cron.yaml").write_text(CRON)
        time.sleep(2.0)  # twice the time a watching process takes to apply a change
        assert applied() == []  # the worker process does not watch the files itself
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    wait_until(lambda: len(applied()) == 2, what="both processes applied the change", timeout=10)
    assert sorted(e.get("process", 0) for e in applied()) == [0, 1]


def fired(daemon: Daemon) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("msg") == "cron fired" and e.get("cron") == "beat"]


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", 2), ("150000 100000", 2), ("50000 100000", 1), ("garbage", 2), (None, 2)],
)
def test_auto_is_one_process_per_cpu_within_a_container_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str | None, expected: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    cgroup = tmp_path / "cpu.max"
    if cpu_max is not None:
        cgroup.write_text(cpu_max + "\n")
    assert available_cpus(cgroup) == expected


def test_a_bad_process_count_is_a_usage_error(jobs_dir: Any) -> None:
    result = run_cli("run", "--jobs-dir", str(jobs_dir(**{"q.yaml": QUEUE})), "--processes", "0")
    assert result.returncode == 2
    assert "'0': give a whole number of at least 1, or auto" in result.stderr


def test_metrics_count_the_jobs_of_every_process(
    tmp_path: Path, url: str, store: Storage, jobs_dir: Any
) -> None:
    """The daemon's `/metrics` adds its worker processes' counts to its own, keeps a killed
    one's, passes promtool, and leaves no files behind; `JOBRUNNER_HTTP` in the environment is
    for the daemon alone (a worker process inheriting it could not bind the port)."""
    port, temp = free_port(), tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out.jsonl"
    env = {"JOBRUNNER_HTTP": str(port), "TMPDIR": str(temp)}
    daemon = Daemon(
        jobs_dir(**{"q.yaml": QUEUE}), url, "--processes", "3", log=tmp_path / "d.log", env=env
    )
    try:
        daemon.start()
        ready(daemon, 3)
        children = workers(daemon)
        ids = [
            store.enqueue(Job(new_id(), "work", {"out": str(out), "n": n, "sleep": 0.1}))
            for n in range(40)
        ]
        wait_until(
            lambda: all(
                (r := store.record(i)) is not None and r.state is State.SUCCEEDED for i in ids
            ),
            what="every job succeeded",
        )
        assert {line["pid"] for line in lines(out)} == {daemon.process.pid, *children}  # type: ignore[union-attr]
        wait_until(lambda: succeeded(port) == 40, what="/metrics counts all 40 jobs")
        checked = subprocess.run(
            [tool("promtool"), "check", "metrics"],
            input=scrape(port),
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout
        assert not [
            e for e in daemon.events() if e.get("msg", "").startswith("worker process exit")
        ]

        os.kill(children[0], signal.SIGKILL)
        wait_until(lambda: len(workers(daemon)) == 3, what="started again", timeout=10)
        assert succeeded(port) == 40  # the killed process's counts stay
        assert len(list(temp.iterdir())) == 1  # the directory they count in
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            assert daemon.stop() == 0
    assert not list(temp.iterdir())  # gone with the daemon


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def succeeded(port: int) -> float:
    """jobrunner_jobs_total of queue `work`, outcome succeeded, in the daemon's scrape."""
    for family in text_string_to_metric_families(scrape(port)):
        for sample in family.samples:
            if sample.name == "jobrunner_jobs_total" and sample.labels == {
                "queue": "work",
                "outcome": "succeeded",
            }:
                return sample.value
    return 0.0


def test_the_main_loop_is_told_when_an_exited_process_starts_again() -> None:
    """The daemon's main loop sleeps until its next chore; `next_start` makes it wake for a
    worker process due to start again, and for none once the daemon is stopping."""
    processes = WorkerProcesses([sys.executable, "-c", "raise SystemExit(3)"], {}, 1)
    processes.start()
    try:
        assert processes.next_start() == float("inf")  # running: nothing to start
        wait_until(lambda: not processes.running(), what="the process exited", timeout=10)
        before = time.monotonic()
        processes.tick()  # seen: to start again RESTART_FIRST from now
        assert before + RESTART_FIRST <= processes.next_start() <= time.monotonic() + RESTART_FIRST
        processes.signal(signal.SIGTERM)
        assert processes.next_start() == float("inf")
    finally:
        processes.kill()
        processes.close()


@pytest.mark.skipif(available_cpus() < 2, reason="auto is one process on one CPU")
def test_auto_starts_worker_processes_for_a_backlog_and_stops_them_when_idle(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    """`--processes auto` (the default): an idle daemon is one process; a backlog its own
    process cannot run at once starts the worker processes, which run jobs too; after
    `--processes-idle` with little to do they stop, as a stop does (not as a crash: nothing
    starts them again), and the next backlog starts them anew."""
    out = tmp_path / "out.jsonl"
    daemon = daemons(
        jobs_dir(**{"q.yaml": QUEUE}), url, "--processes", "auto", "--processes-idle", "2s"
    )
    ready(daemon, 1)
    time.sleep(1.5)
    assert workers(daemon) == []  # idle: none started

    def backlog(first: int) -> list[str]:
        return [
            store.enqueue(Job(new_id(), "work", {"out": str(out), "n": n, "sleep": 0.2}))
            for n in range(first, first + 40)
        ]

    def done(ids: list[str]) -> bool:
        return all((r := store.record(i)) is not None and r.state is State.SUCCEEDED for i in ids)

    ids = backlog(0)
    wait_until(lambda: len(workers(daemon)) == available_cpus() - 1, what="workers started")
    children = workers(daemon)
    wait_until(lambda: done(ids), what="every job succeeded")
    assert {line["pid"] for line in lines(out)} >= {daemon.process.pid, children[0]}  # type: ignore[union-attr]

    stopped = lambda: [  # noqa: E731
        e["pid"] for e in daemon.events() if e.get("msg") == "worker process stopped: idle"
    ]
    wait_until(lambda: len(stopped()) == len(children), what="idle workers stopped", timeout=15)
    assert sorted(stopped()) == sorted(children) and not any(alive(pid) for pid in children)
    assert not [e for e in daemon.events() if e.get("msg", "").startswith("worker process exit")]
    time.sleep(1.5)
    assert len(workers(daemon)) == len(children)  # not started again while idle

    ids = backlog(40)
    wait_until(lambda: len(workers(daemon)) == 2 * len(children), what="started anew")
    wait_until(lambda: done(ids), what="the second backlog succeeded")
    assert daemon.stop() == 0
    assert not any(alive(pid) for pid in workers(daemon))


@pytest.mark.skipif(available_cpus() < 2, reason="auto is one process on one CPU")
def test_auto_starts_worker_processes_when_jobs_keep_the_daemon_busy(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    """A queue of one job at a time never holds more than it can run, but CPU-bound jobs
    that keep the daemon's process busy start the worker processes all the same."""
    one = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:spin'}}\n"
    daemon = daemons(jobs_dir(**{"q.yaml": one}), url, "--processes", "auto")
    ready(daemon, 1)
    out = tmp_path / "out.jsonl"
    for n in range(30):
        store.enqueue(Job(new_id(), "work", {"out": str(out), "n": n, "seconds": 0.2}))
    wait_until(lambda: len(workers(daemon)) == available_cpus() - 1, what="workers started")
    assert daemon.stop() == 0


def test_exit_when_idle_waits_for_a_long_job_that_takes_no_cpu(
    tmp_path: Path, url: str, store: Storage, daemons: Callable[..., Daemon], jobs_dir: Any
) -> None:
    """`--exit-when-idle` (what on-demand worker processes run with) exits once no job ran
    for that long, never while one runs: a job that sleeps longer than the idle time
    finishes as it would, and the process exits after it, with status 0."""
    out = tmp_path / "out.jsonl"
    daemon = daemons(jobs_dir(**{"q.yaml": QUEUE}), url, "--exit-when-idle", "1s")
    ready(daemon, 1)
    long = store.enqueue(Job(new_id(), "work", {"out": str(out), "n": 1, "sleep": 3.0}))
    assert daemon.process is not None
    assert daemon.process.wait(timeout=20) == 0
    record = store.record(long)
    assert record is not None and record.state is State.SUCCEEDED
    assert [a.outcome for a in record.attempts] == ["succeeded"]
    [stop] = [e for e in daemon.events() if e.get("msg") == "stopping: no job ran here for a while"]
    [end] = [line for line in lines(out) if line.get("phase") == "end"]
    stopped_at = datetime.fromisoformat(stop["ts"].replace("Z", "+00:00")).timestamp()
    assert stopped_at >= end["t"] + 0.9  # idle for the whole second after the job, not before
