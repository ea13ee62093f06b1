"""The JSON API v1 of a real web-role daemon, over real HTTP, on SQLite and Redis."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from daemon_proc import Daemon, wait_until
from servers import free_port

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage

JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:record"}
    payload_schema:
      type: object
      required: [out, n]
      properties: {out: {type: string}, n: {type: integer}}
  doomed:
    handler: python
    params: {callable: "jobapp:permanent"}
cron:
  nightly:
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    queue: work
    payload: {out: /dev/null, n: 0}
"""


def call(port: int, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """Status and decoded JSON body of one request (problem documents included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["content-type"] == "application/problem+json"
        return exc.code, json.loads(exc.read())


@pytest.fixture
def web(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> tuple[int, Path]:
    """A worker daemon and a web-role daemon on the same storage; the web one's port."""
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "work.yaml").write_text(JOBS)
    daemons(root, url)
    port = free_port()
    daemons(root, url, "--role", "web", "--http", str(port))
    return port, tmp_path


def done(store: Storage, job_id: str, state: State) -> Callable[[], bool]:
    def check() -> bool:
        record = store.record(job_id)
        return record is not None and record.state is state

    return check


def test_enqueue_checks_the_payload_and_the_job_runs(web: tuple[int, Path], store: Storage) -> None:
    port, tmp = web
    out = str(tmp / "out.jsonl")
    status, body = call(port, "POST", "/api/v1/queues/work/jobs", {"payload": {"out": out, "n": 1}})
    assert status == 201 and body["queue"] == "work"
    wait_until(done(store, body["id"], State.SUCCEEDED), what="the job enqueued over HTTP ran")
    status, job = call(port, "GET", f"/api/v1/jobs/{body['id']}")
    assert status == 200 and job["state"] == "succeeded" and job["payload"]["n"] == 1
    assert [a["outcome"] for a in job["attempts"]] == ["succeeded"]

    status, problem = call(port, "POST", "/api/v1/queues/work/jobs", {"payload": {"n": "x"}})
    assert status == 400 and problem["status"] == 400
    assert "does not match its payload_schema" in problem["detail"]
    status, problem = call(port, "POST", "/api/v1/queues/wrok/jobs", {"payload": {}})
    assert status == 404 and "did you mean 'work'" in problem["detail"]
    status, problem = call(port, "POST", "/api/v1/queues/work/jobs", {"payload": {}, "delay": -1})
    assert status == 422 and problem["title"] == "Invalid request"
    status, problem = call(port, "GET", "/api/v1/jobs/nope")
    assert status == 404


def test_idempotency_key_header_and_a_batch_that_is_all_or_nothing(
    web: tuple[int, Path], store: Storage
) -> None:
    port, tmp = web
    job = {"payload": {"out": str(tmp / "o.jsonl"), "n": 2}, "delay": 3600}
    first = call(port, "POST", "/api/v1/queues/work/jobs", job, **{"Idempotency-Key": "k1"})
    again = call(port, "POST", "/api/v1/queues/work/jobs", job, **{"Idempotency-Key": "k1"})
    assert first[0] == again[0] == 201 and first[1]["id"] == again[1]["id"]
    before = store.stats()["work"].scheduled
    bad = {"jobs": [job, {"payload": {"out": "x", "n": "two"}}]}
    status, problem = call(port, "POST", "/api/v1/queues/work/batch", bad)
    assert status == 400 and problem["detail"].startswith("jobs[1]: ")
    assert store.stats()["work"].scheduled == before  # nothing of the refused batch stored
    status, ids = call(port, "POST", "/api/v1/queues/work/batch", {"jobs": [job, job, job]})
    assert status == 201 and len({i["id"] for i in ids}) == 3
    assert store.stats()["work"].scheduled == before + 3


def test_a_batch_answers_the_ids_in_order_and_its_jobs_run(
    web: tuple[int, Path], store: Storage
) -> None:
    port, tmp = web
    out = tmp / "batch.jsonl"
    later = {"payload": {"out": str(out), "n": 0}, "delay": 3600, "priority": "low"}
    jobs = [
        {"payload": {"out": str(out), "n": n}, "idempotency_key": f"k{n % 3}"} for n in range(5)
    ]
    status, ids = call(port, "POST", "/api/v1/queues/work/batch", {"jobs": [later, *jobs]})
    assert status == 201 and [i["queue"] for i in ids] == ["work"] * 6
    assert ids[1]["id"] == ids[4]["id"] and ids[2]["id"] == ids[5]["id"]  # keys k0, k1 again
    assert len({i["id"] for i in ids}) == 4
    for answer in ids[1:]:
        wait_until(done(store, answer["id"], State.SUCCEEDED), what="the batch's jobs to run")
    ran = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(note["n"] for note in ran if note["phase"] == "end") == [0, 1, 2]
    assert store.record(ids[0]["id"]).state is State.SCHEDULED  # type: ignore[union-attr]

    fine = {"payload": {"out": str(out), "n": 9}, "delay": 60}
    bad = [later, fine, {**later, "payload": {"n": 1}}, {"payload": {"n": "two"}, "delay": 3600}]
    scheduled = store.stats()["work"].scheduled
    status, problem = call(port, "POST", "/api/v1/queues/work/batch", {"jobs": bad})
    assert status == 400 and problem["detail"].startswith("jobs[2]: payload for queue 'work'")
    assert store.stats()["work"].scheduled == scheduled  # not even the groups that were fine
    status, problem = call(port, "POST", "/api/v1/queues/wrok/batch", {"jobs": [later]})
    assert status == 404 and problem["detail"].startswith("unknown queue 'wrok'")
    too_many = {"jobs": [later] * 1001}
    assert call(port, "POST", "/api/v1/queues/work/batch", too_many)[0] == 422


def test_dead_letters_list_replay_and_purge(web: tuple[int, Path], store: Storage) -> None:
    port, _ = web
    ids = [
        call(port, "POST", "/api/v1/queues/doomed/jobs", {"payload": {"out": "/dev/null"}})[1]["id"]
        for _ in range(3)
    ]
    for job_id in ids:
        wait_until(done(store, job_id, State.DEAD), what="the job to die")
    status, dead = call(port, "GET", "/api/v1/dead?queue=doomed")
    assert status == 200 and {j["id"] for j in dead["jobs"]} == set(ids)
    assert all("can never work" in j["attempts"][-1]["error"] for j in dead["jobs"])
    status, replayed = call(port, "POST", f"/api/v1/dead/{ids[0]}/replay")
    assert status == 200 and replayed["replayed"] == [{"id": ids[0], "queue": "doomed"}]
    wait_until(lambda: len(store.record(ids[0]).attempts) == 2, what="the replay to run")  # type: ignore[union-attr]
    wait_until(done(store, ids[0], State.DEAD), what="the replayed job to die again")
    status, replayed = call(port, "POST", "/api/v1/dead/replay?queue=doomed")
    assert status == 200 and {j["id"] for j in replayed["replayed"]} == set(ids)
    for job_id in ids:
        wait_until(done(store, job_id, State.DEAD), what="every replayed job to die again")
    status, picked = call(port, "GET", "/api/v1/dead?error=NEVER%20WORK&since=2000-01-01T00:00Z")
    assert status == 200 and {j["id"] for j in picked["jobs"]} == set(ids)
    assert call(port, "GET", "/api/v1/dead?error=timeout")[1] == {"jobs": []}
    status, replayed = call(port, "POST", "/api/v1/dead/replay?queue=doomed&error=timeout")
    assert (status, replayed) == (200, {"replayed": [], "missing": []})
    assert call(port, "GET", "/api/v1/dead?since=yesterday")[0] == 422
    assert call(port, "DELETE", "/api/v1/dead?all=true&until=2000-01-01T00:00Z")[1] == {"purged": 0}
    status, history = call(port, "GET", "/api/v1/history?queue=doomed&minutes=5")
    assert status == 200 and len(history["minutes"]) == len(history["failed"]) == 5
    assert history["total"]["dead"] == history["total"]["failed"] == sum(history["failed"]) == 7
    assert call(port, "GET", "/api/v1/history?minutes=0")[0] == 422
    assert call(port, "DELETE", "/api/v1/dead")[0] == 400  # neither queue nor all
    assert call(port, "DELETE", f"/api/v1/dead/{ids[0]}") == (200, {"purged": 1})
    assert call(port, "DELETE", f"/api/v1/dead/{ids[0]}")[0] == 404
    assert call(port, "DELETE", "/api/v1/dead?queue=doomed") == (200, {"purged": 2})
    assert call(port, "GET", "/api/v1/queues/doomed")[1]["dead"] == 0


def test_overview_routes_and_cron_trigger(web: tuple[int, Path], store: Storage) -> None:
    port, _ = web
    wait_until(
        lambda: len(call(port, "GET", "/api/v1/daemons")[1]["daemons"]) == 2,
        what="both daemons to beat",
    )
    status, queues = call(port, "GET", "/api/v1/queues")
    assert status == 200 and set(queues["queues"]) == {"work", "doomed"}
    status, queue = call(port, "GET", "/api/v1/queues/work")
    assert status == 200 and queue["name"] == "work" and queue["ready"] >= 0
    assert call(port, "GET", "/api/v1/queues/wrk")[0] == 404
    status, config = call(port, "GET", "/api/v1/config")
    assert status == 200 and config["config"]["generation"] == 1
    status, crons = call(port, "GET", "/api/v1/crons")
    assert status == 200 and crons["crons"]["nightly"]["next"] > time.time()
    status, run = call(port, "POST", "/api/v1/crons/nightly/trigger")
    assert status == 201 and run["queue"] == "work"
    wait_until(done(store, run["id"], State.SUCCEEDED), what="the triggered run")
    status, cron = call(port, "GET", "/api/v1/crons/nightly")
    assert status == 200 and cron["job"] == run["id"] and cron["manual"] is True
    ticks = [datetime.fromisoformat(t) for t in cron["upcoming"]]
    assert len(ticks) == 5 and ticks == sorted(ticks) and ticks[0].timestamp() == cron["next"]
    berlin = ZoneInfo("Europe/Berlin")
    assert all(t.utcoffset() == t.astimezone(berlin).utcoffset() for t in ticks)
    assert all((t.hour, t.minute) == (3, 0) for t in ticks)  # 03:00 in its own zone
    assert len(call(port, "GET", "/api/v1/crons/nightly?count=2")[1]["upcoming"]) == 2
    status, problem = call(port, "POST", "/api/v1/crons/nightl/trigger")
    assert status == 404 and "did you mean 'nightly'" in problem["detail"]
    status, everything = call(port, "GET", "/api/v1/status")
    assert status == 200 and set(everything) >= {"config", "daemons", "queues", "crons"}


def test_the_openapi_document_lists_every_route(web: tuple[int, Path]) -> None:
    port, _ = web
    status, doc = call(port, "GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert {
        "/api/v1/queues/{queue}/jobs",
        "/api/v1/queues/{queue}/batch",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs",
        "/api/v1/history",
        "/api/v1/dead",
        "/api/v1/dead/replay",
        "/api/v1/crons/{name}/trigger",
        "/api/v1/config",
    } <= paths


def test_pause_holds_a_queue_s_jobs_on_every_daemon_until_resume(
    web: tuple[int, Path], store: Storage
) -> None:
    port, tmp = web
    status, paused = call(port, "POST", "/api/v1/queues/work/pause", {"reason": "db migration"})
    assert status == 200 and paused["paused"] is True and paused["reason"] == "db migration"
    assert paused["by"].startswith("HTTP client")
    out = tmp / "paused.jsonl"
    job = call(port, "POST", "/api/v1/queues/work/jobs", {"payload": {"out": str(out), "n": 3}})
    time.sleep(2.0)  # the worker daemon would have started it by now
    assert not out.exists()
    status, queue = call(port, "GET", "/api/v1/queues/work")
    assert status == 200 and queue["paused"] and queue["ready"] == 1
    status, resumed = call(port, "POST", "/api/v1/queues/work/resume")
    assert status == 200 and resumed["paused"] is False
    wait_until(done(store, job[1]["id"], State.SUCCEEDED), what="the job to run once resumed")
    assert call(port, "POST", "/api/v1/queues/wrk/pause")[0] == 404


def test_cancel_and_retry_a_job(web: tuple[int, Path], store: Storage) -> None:
    port, tmp = web
    out = tmp / "cancel.jsonl"
    body = {"payload": {"out": str(out), "n": 4}, "delay": 3600}
    status, job = call(port, "POST", "/api/v1/queues/work/jobs", body)
    assert status == 201
    status, answer = call(port, "POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 200 and answer == {"id": job["id"], "outcome": "cancelled"}
    assert done(store, job["id"], State.CANCELLED)()
    status, problem = call(port, "POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 409 and "cancelled" in problem["detail"]
    assert call(port, "POST", "/api/v1/jobs/no-such-job/cancel")[0] == 404
    assert call(port, "POST", "/api/v1/jobs/no-such-job/retry")[0] == 404
    status, retried = call(port, "POST", f"/api/v1/jobs/{job['id']}/retry")
    assert status == 200 and retried == {"id": job["id"], "queue": "work"}
    wait_until(done(store, job["id"], State.SUCCEEDED), what="the retried job to run")
    status, problem = call(port, "POST", f"/api/v1/jobs/{job['id']}/retry")
    assert status == 409 and "succeeded" in problem["detail"]


def test_jobs_are_listed_and_searched_a_page_at_a_time(
    web: tuple[int, Path], store: Storage
) -> None:
    """Jobs of a queue no daemon serves, so that they stay as they were stored."""
    port, _ = web
    now = time.time()
    ids = []
    for n, customer in enumerate(("42", 42, "7")):
        job = Job(new_id(), "listed", {"customer": {"id": customer}}, created=now - 30 + n)
        ids.append(store.enqueue(job))
    newest = ids[::-1]
    status, body = call(port, "GET", "/api/v1/jobs?queue=listed")
    assert status == 200 and [j["id"] for j in body["jobs"]] == newest
    assert (body["next"], body["examined"]) == (None, 3)
    assert body["jobs"][0] == call(port, "GET", f"/api/v1/jobs/{newest[0]}")[1]

    def found(query: str) -> list[str]:
        status, body = call(port, "GET", f"/api/v1/jobs?queue=listed&{query}")
        assert status == 200, body
        return [j["id"] for j in body["jobs"]]

    assert found("field=customer.id&value=%2242%22") == [ids[0]]  # the text "42"
    assert found("field=payload.customer.id&value=42") == [ids[1]]  # the number 42
    assert found("field=customer.id&value=nobody") == []
    assert found("state=queued&state=dead") == newest
    assert found("state=succeeded") == []
    assert found(f"since={now - 29.5}&until=2100-01-01T00:00:00Z") == newest[:2]
    status, page = call(port, "GET", "/api/v1/jobs?queue=listed&limit=2")
    assert [j["id"] for j in page["jobs"]] == newest[:2] and page["next"]
    assert found(f"limit=2&cursor={page['next']}") == newest[2:]
    for bad, says in (
        ("state=sleeping", "state"),
        ("cursor=garbage", "cursor"),
        (f"queue=other&cursor={page['next']}", "other filters"),
        ("field=customer.id", "field and value"),
        ("field=a..b&value=1", "dotted path"),
        ("since=2030-01-01T00:00Z&until=2020-01-01T00:00Z", "before"),
        ("limit=501", "limit"),
    ):
        status, problem = call(port, "GET", f"/api/v1/jobs?{bad}")
        assert status == 422 and problem["status"] == 422, (bad, problem)
        assert says in json.dumps(problem), (bad, problem)
