"""The HTTP side of a real daemon subprocess: health, readiness, metrics, the web role."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_proc import Daemon, wait_until
from servers import RedisServer, free_port

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Pause, Storage

JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:echo"}
"""


def get(port: int, path: str) -> tuple[int, str, str]:
    """Status, content type and body of GET `path` (errors included)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["content-type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read().decode()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return None


def jobs(tmp_path: Path) -> Path:
    root = tmp_path / "jobs.d"
    root.mkdir(exist_ok=True)
    (root / "work.yaml").write_text(JOBS)
    return root


def enqueue(store: Storage) -> str:
    return store.enqueue(Job(id=new_id(), queue="work", payload={"n": 1}, created=time.time()))


def test_any_role_serves_health_readiness_and_its_own_metrics(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    daemon = daemons(jobs(tmp_path), url, "--http", f"127.0.0.1:{port}")
    assert any(e.get("msg") == "serving HTTP" for e in daemon.events())
    status, _, body = get(port, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "alive"
    status, _, body = get(port, "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready", "daemon": _id(daemon)}
    job_id = enqueue(store)
    wait_until(lambda: _state(store, job_id) is State.SUCCEEDED, what="the job ran")
    status, kind, text = get(port, "/metrics")
    assert status == 200 and kind.startswith("text/plain")
    assert metric(text, "jobrunner_jobs_total", queue="work", outcome="succeeded") == 1
    assert metric(text, "jobrunner_job_duration_seconds_count", queue="work") == 1
    assert metric(text, "jobrunner_job_wait_seconds_count", queue="work") == 1
    assert metric(text, "jobrunner_reloads_total", result="applied") == 1
    assert metric(text, "jobrunner_config_generation") == 1
    assert "jobrunner_queue_jobs" not in text  # the deployment's figures: the web role's alone
    assert "_created" not in text


def test_the_web_role_runs_no_jobs_and_exports_the_deployment(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    daemons(jobs(tmp_path), url, "--role", "web", "--http", str(port))
    job_id = enqueue(store)
    time.sleep(1.0)
    assert _state(store, job_id) is State.QUEUED  # no worker in this role
    status, _, text = get(port, "/metrics")
    assert status == 200
    assert metric(text, "jobrunner_queue_jobs", queue="work", state="ready") == 1
    assert metric(text, "jobrunner_queue_jobs", queue="work", state="dead") == 0
    assert metric(text, "jobrunner_queue_oldest_ready_age_seconds", queue="work") >= 1.0
    assert metric(text, "jobrunner_queue_paused", queue="work") == 0
    store.pause(Pause("work", by="test"))
    text = get(port, "/metrics")[2]
    assert metric(text, "jobrunner_queue_paused", queue="work") == 1
    assert metric(text, "jobrunner_daemons", role="web") == 1
    assert metric(text, "jobrunner_storage_up") == 1
    shown = run_cli("status", "--storage", url)
    assert " web " in shown.stdout


def test_not_ready_while_the_storage_is_down_and_ready_again_after(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    server, port = RedisServer(tmp_path), free_port()
    try:
        daemons(jobs(tmp_path), server.url, "--role", "web", "--http", str(port), "--lease", "1s")
        server.stop()
        wait_until(lambda: get(port, "/readyz")[0] == 503, what="readyz says not ready")
        _, kind, body = get(port, "/readyz")
        assert kind == "application/problem+json"
        problem = json.loads(body)
        assert problem["title"] == "Not ready" and problem["status"] == 503
        assert "storage unreachable since 20" in problem["detail"]
        assert get(port, "/healthz")[0] == 200  # alive all the same: no restart would help
        assert metric(get(port, "/metrics")[2], "jobrunner_storage_up") == 0
        server = RedisServer(tmp_path, port=server.port)
        wait_until(lambda: get(port, "/readyz")[0] == 200, what="ready again")
    finally:
        server.stop()


def test_errors_are_problem_documents_and_the_openapi_document_is_served(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    daemons(jobs(tmp_path), f"sqlite:///{tmp_path / 'state.db'}", "--http", str(port))
    status, kind, body = get(port, "/no/such/route")
    assert (status, kind) == (404, "application/problem+json")
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
    }
    status, _, body = get(port, "/api/v1/openapi.json")
    document: dict[str, Any] = json.loads(body)
    assert status == 200 and document["openapi"].startswith("3.1")
    assert {"/healthz", "/readyz", "/metrics"} <= set(document["paths"])


@pytest.mark.parametrize("address", ["0.0.0.0:8080", "[::]:8080", "10.0.0.1:80"])
def test_no_address_other_hosts_can_reach_without_access_tokens(
    address: str, tmp_path: Path
) -> None:
    shown = run_cli("run", "--jobs-dir", str(jobs(tmp_path)), "--http", address)
    assert shown.returncode == 2
    assert "is not a loopback address" in shown.stderr and "Traceback" not in shown.stderr


def test_an_address_in_use_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        storage = f"sqlite:///{tmp_path / 'state.db'}"
        shown = run_cli(
            "run", "--jobs-dir", str(jobs(tmp_path)), "--storage", storage, "--http", str(port)
        )
    assert shown.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in shown.stderr
    assert "Traceback" not in shown.stderr


def _state(store: Storage, job_id: str) -> State | None:
    record = store.record(job_id)
    return record.state if record else None


def _id(daemon: Daemon) -> str:
    return str(next(e["daemon"] for e in daemon.events() if e.get("msg") == "ready"))
