"""Bearer tokens of `access:` entries guard every route but health: each scope checked over
real HTTP, tokens rotated through their files, never logged, and a server other hosts can
reach that loses its entries refuses everything instead of opening up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from daemon_proc import Daemon, wait_until
from servers import free_port

QUEUES = """\
version: 1
queues:
  work: {handler: python, params: {callable: "jobapp:record"}}
  other: {handler: python, params: {callable: "jobapp:record"}}
cron:
  nightly: {schedule: "0 3 * * *", queue: work, payload: {out: /dev/null}}
"""
ACCESS = """\
version: 1
access:
  reader: {{token: "${{file:{dir}/reader}}", scopes: [read]}}
  producer: {{token: "${{file:{dir}/producer}}", scopes: ["enqueue:work"]}}
  on-call: {{token: "${{file:{dir}/on-call}}", scopes: [read, operate]}}
  unset: {{token: "${{env:JOBRUNNER_TEST_NO_SUCH_TOKEN}}", scopes: [read]}}
"""
TOKENS = {
    "reader": "r-4c1f0a9e7b2d4e6f8a0b",
    "producer": "p-9d8c7b6a5f4e3d2c1b0a",
    "on-call": "o-1a2b3c4d5e6f7a8b9c0d",
}


def call(
    port: int, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str]]:
    """Status and headers of one request, with `token` as its bearer token."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token is not None:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def setup(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, token in TOKENS.items():
        (secrets / name).write_text(token + "\n")
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "queues.yaml").write_text(QUEUES)
    (jobs / "access.yaml").write_text(ACCESS.format(dir=secrets))
    return jobs


@pytest.fixture
def guarded(url: str, daemons: Callable[..., Daemon], tmp_path: Path) -> tuple[int, Daemon]:
    port = free_port()
    daemon = daemons(setup(tmp_path), url, "--role", "web", "--http", str(port))
    return port, daemon


def test_every_route_but_health_needs_a_token_in_force(guarded: tuple[int, Daemon]) -> None:
    port, _ = guarded
    assert call(port, "GET", "/healthz")[0] == 200
    assert call(port, "GET", "/readyz")[0] == 200
    for path in ("/metrics", "/api/v1/openapi.json", "/api/v1/queues", "/api/v1/status"):
        status, headers = call(port, "GET", path)
        assert status == 401, path
        assert headers["www-authenticate"].startswith("Bearer"), path
        assert call(port, "GET", path, "not-a-token-in-force")[0] == 401, path
        assert call(port, "GET", path, TOKENS["reader"])[0] == 200, path


def test_each_scope_allows_its_routes_and_no_other(guarded: tuple[int, Daemon]) -> None:
    port, _ = guarded
    reader, producer, on_call = TOKENS["reader"], TOKENS["producer"], TOKENS["on-call"]
    job = {"payload": {"out": "/dev/null"}}
    assert call(port, "POST", "/api/v1/queues/work/jobs", producer, job)[0] == 201
    assert call(port, "POST", "/api/v1/queues/other/jobs", producer, job)[0] == 403
    assert call(port, "POST", "/api/v1/queues/work/batch", producer, {"jobs": [job]})[0] == 201
    assert call(port, "GET", "/api/v1/queues", producer)[0] == 403
    assert call(port, "POST", "/api/v1/queues/work/jobs", reader, job)[0] == 403
    assert call(port, "POST", "/api/v1/crons/nightly/trigger", reader)[0] == 403
    assert call(port, "POST", "/api/v1/dead/replay", reader)[0] == 403
    assert call(port, "POST", "/api/v1/queues/work/jobs", on_call, job)[0] == 403
    assert call(port, "POST", "/api/v1/crons/nightly/trigger", on_call)[0] == 201
    assert call(port, "POST", "/api/v1/dead/replay?queue=work", on_call)[0] == 200
    assert call(port, "DELETE", "/api/v1/dead?queue=work", on_call)[0] == 200
    assert call(port, "GET", "/api/v1/crons", on_call)[0] == 200
    assert call(port, "POST", "/api/v1/queues/work/pause", reader)[0] == 403
    assert call(port, "POST", "/api/v1/queues/work/pause", on_call)[0] == 200
    assert call(port, "POST", "/api/v1/queues/work/resume", on_call)[0] == 200


def test_a_rotated_token_file_takes_over_and_no_token_is_ever_logged(
    guarded: tuple[int, Daemon], tmp_path: Path
) -> None:
    port, daemon = guarded
    old, new = TOKENS["reader"], "r-rotated-0f9e8d7c6b5a"
    assert call(port, "GET", "/api/v1/queues", old)[0] == 200
    (tmp_path / "secrets" / "reader").write_text(new + "\n")
    wait_until(
        lambda: call(port, "GET", "/api/v1/queues", new)[0] == 200,
        what="the rotated token to be read",
        timeout=15,
    )
    assert call(port, "GET", "/api/v1/queues", old)[0] == 401
    log = daemon.log.read_text()
    for token in (*TOKENS.values(), new):
        assert token not in log
    unusable = [e for e in daemon.events() if e.get("entry") == "unset"]
    assert len(unusable) == 1 and "no usable token" in unusable[0]["msg"]


def test_other_hosts_may_reach_it_only_while_access_is_declared(
    url: str, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    jobs = setup(tmp_path)
    port = free_port()
    daemon = daemons(jobs, url, "--role", "web", "--http", f"0.0.0.0:{port}")
    assert call(port, "GET", "/api/v1/queues", TOKENS["reader"])[0] == 200
    (jobs / "access.yaml").unlink()  # a reload that leaves no entry: closed, not open
    wait_until(
        lambda: call(port, "GET", "/api/v1/queues", TOKENS["reader"])[0] == 401,
        what="the reload to withdraw the token",
        timeout=20,
    )
    assert call(port, "GET", "/api/v1/queues")[0] == 401
    assert call(port, "GET", "/metrics")[0] == 401
    assert call(port, "GET", "/healthz")[0] == 200
    assert daemon.process is not None and daemon.process.poll() is None


def test_without_access_entries_another_address_is_refused_with_the_way_out(
    tmp_path: Path,
) -> None:
    jobs = setup(tmp_path)
    (jobs / "access.yaml").unlink()
    shown = run_cli("run", "--jobs-dir", str(jobs), "--http", "0.0.0.0:8080")
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert "declare no `access:` entry" in shown.stderr


def test_with_no_entries_on_loopback_every_route_stays_open(
    url: str, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    jobs = setup(tmp_path)
    (jobs / "access.yaml").unlink()
    port = free_port()
    daemons(jobs, url, "--role", "web", "--http", str(port))
    for path in ("/metrics", "/api/v1/openapi.json", "/api/v1/queues"):
        assert call(port, "GET", path)[0] == 200, path
