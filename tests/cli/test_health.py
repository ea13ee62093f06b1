"""`jobrunner health` as probes run it: a subprocess, beats published through the storage API."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from servers import free_port

from jobrunner.cli.health import judge
from jobrunner.storage import open_storage

HOST = socket.gethostname()


def beat(url: str, daemon: str, *, ttl: float = 30.0, **info: Any) -> None:
    """Publish a daemon's heartbeat as `Daemon._beat` does."""
    report = {"host": HOST, "pid": 4242, "role": "all", "queues": [], "generation": 3}
    report |= {"healthy": True, "seen": time.time(), **info}
    store = open_storage(url)
    try:
        store.beat(daemon, report, ttl=ttl)
    finally:
        store.close()


def health(url: str, *args: str) -> tuple[int, str, str]:
    result = run_cli("health", "--storage", url, *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def test_a_reporting_healthy_daemon_on_this_host_passes(url: str) -> None:
    beat(url, "here-1")
    code, out, err = health(url)
    assert (code, err) == (0, "")
    assert out.startswith("healthy: daemon here-1 reported ")
    assert out.endswith("(role all, generation 3)")


def test_no_report_is_unhealthy(url: str) -> None:
    open_storage(url).close()  # the storage exists, no daemon ever beat
    assert health(url) == (
        1,
        "",
        f"unhealthy: no daemon on {HOST} has reported in the last 30 s",
    )


def test_a_daemon_elsewhere_does_not_count_but_is_named(url: str) -> None:
    beat(url, "there-1", host="worker-7")
    assert health(url, "--lease", "10s") == (
        1,
        "",
        f"unhealthy: no daemon on {HOST} has reported in the last 10 s "
        "(daemons report from worker-7)",
    )


def test_a_daemon_that_cannot_reach_the_storage_is_unhealthy(url: str) -> None:
    beat(url, "here-1", healthy=False)
    assert health(url) == (1, "", "unhealthy: daemon here-1 reports the storage unreachable")


def test_one_healthy_daemon_of_several_on_this_host_is_enough(url: str) -> None:
    beat(url, "here-1", healthy=False)
    beat(url, "here-2")
    code, out, _ = health(url)
    assert code == 0
    assert out.startswith("healthy: daemon here-2 ")


def test_a_report_older_than_the_lease_is_unhealthy(url: str) -> None:
    beat(url, "here-1", seen=time.time() - 45)
    assert health(url)[0] == 1
    assert health(url, "--lease", "1m")[0] == 0
    # The same variable as the daemon's --lease, so a probe inherits it.
    with_env = run_cli("health", "--storage", url, env={**os.environ, "JOBRUNNER_LEASE": "1m"})
    assert with_env.returncode == 0, with_env.stderr


def test_daemon_id_checks_that_daemon_only(url: str) -> None:
    beat(url, "here-1")
    beat(url, "there-1", host="worker-7")
    assert health(url, "--daemon-id", "there-1")[0] == 0
    assert health(url, "--daemon-id", "gone-1") == (
        1,
        "",
        "unhealthy: daemon gone-1 has not reported in the last 30 s",
    )


def test_the_storage_forgets_a_daemon_past_its_ttl(url: str) -> None:
    beat(url, "here-1", ttl=0.3)
    time.sleep(0.5)  # the storage's ttl, not a schedule: nothing else to wait for
    assert health(url)[0] == 1


def test_liveness_fails_only_when_the_daemon_went_silent(url: str) -> None:
    open_storage(url).close()
    assert health(url, "--liveness")[0] == 1
    beat(url, "here-1", healthy=False)
    code, out, _ = health(url, "--liveness")
    assert code == 0
    assert out.startswith("alive: daemon here-1 reports the storage unreachable")


def test_an_unreachable_storage_is_unhealthy_but_alive() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = health(url)
    assert code == 1
    assert err.startswith(f"unhealthy: storage unreachable: cannot reach {url} ")
    code, out, err = health(url, "--liveness")
    assert code == 0
    assert out.startswith("alive: storage unreachable: ")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_a_storage_that_does_not_answer_is_given_up_on_in_time(silent_server: str) -> None:
    started = time.monotonic()
    assert health(silent_server, "--timeout", "1s") == (
        1,
        "",
        "unhealthy: the storage did not answer within 1 s",
    )
    assert time.monotonic() - started < 8  # not the client's own timeouts and retries


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.db"
    assert health(f"sqlite:///{path}") == (
        1,
        "",
        f"unhealthy: no daemon has created {path} yet (check --storage)",
    )
    assert not path.parent.exists()


def test_judge_prefers_the_latest_report() -> None:
    now = 1000.0
    daemons = [
        {"id": "a", "host": "h", "healthy": False, "seen": now - 1},
        {"id": "b", "host": "h", "healthy": False, "seen": now - 2},
        {"id": "c", "host": "h", "healthy": True, "seen": now - 40},
    ]
    verdict = judge(daemons, host="h", now=now, within=30)
    assert (verdict.kind, verdict.reason) == ("storage", "daemon a reports the storage unreachable")
    assert judge(daemons, host="h", now=now, within=60).kind == "healthy"
    many = [{"id": str(i), "host": f"w{i}"} for i in range(5)]
    assert judge(many, host="h", now=now, within=30).reason.endswith(
        "(daemons report from w0, w1, w2 and 2 more)"
    )
