"""`jobrunner.Client`: what producers may enqueue, checked against the published configuration.

Each test runs against a SQLite file in a temp dir and, once its backend
exists, our own redis-server.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobrunner import Client, EnqueueError, JobInfo, config
from jobrunner.client import BatchRefused
from jobrunner.job import PRIORITY_RANK, State
from jobrunner.reload import publish as publishing
from jobrunner.storage import open_storage

JOBS = """\
version: 1
queues:
  send-email:
    handler: shell
    params: {command: ["true"]}
    payload_schema:
      type: object
      required: [to, template]
      properties:
        to: {type: string}
        template: {type: string}
        user:
          type: object
          properties: {id: {type: integer}}
    idempotency: {key: "{to}:{template}", ttl: 1h}
    priority: high
  charge:
    handler: shell
    params: {command: ["true"]}
    idempotency: {key: "order-{order.id}", ttl: 10m}
  reports:
    handler: shell
    params: {command: ["true"]}
cron:
  tidy:
    schedule: "@daily"
    handler: shell
    params: {command: ["true"]}
"""


def publish(url: str, root: Path, text: str = JOBS, generation: int = 1) -> dict[str, Any]:
    """Load `text` as a jobs dir under `root` and publish it, as a daemon does."""
    jobs = root / f"jobs-{generation}.d"
    jobs.mkdir(exist_ok=True)
    (jobs / "app.yaml").write_text(text)
    loaded = config.load([jobs])
    assert loaded.ok, [str(p) for p in loaded.problems]
    doc = publishing.view(loaded.config, generation).as_dict()
    storage = open_storage(url)
    try:
        storage.publish(doc)
    finally:
        storage.close()
    return doc


@pytest.fixture
def client(url: str, tmp_path: Path) -> Iterator[Client]:
    publish(url, tmp_path)
    with Client(url) as c:
        yield c


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(EnqueueError) as info:
        call()
    return str(info.value)


EMAIL = {"to": "ada@example.com", "template": "welcome"}


# -- refusals ------------------------------------------------------------------


def test_nothing_published_says_to_start_a_daemon(url: str) -> None:
    with Client(url) as c:
        message = refused(lambda: c.enqueue("send-email", EMAIL))
    assert "no daemon has published a configuration to " in message
    assert "start `jobrunner run` once" in message


def test_unknown_queue_suggests_the_closest(client: Client) -> None:
    message = refused(lambda: client.enqueue("send-emial", EMAIL))
    assert message.startswith("unknown queue 'send-emial' (did you mean 'send-email'?)")
    assert "has queues: charge, reports, send-email" in message
    assert "(generation 1)" in message


def test_a_cron_entry_is_not_a_queue(client: Client) -> None:
    assert "unknown queue 'tidy'" in refused(lambda: client.enqueue("tidy", {}))


def test_payload_schema_errors_name_the_field_and_problem(client: Client) -> None:
    message = refused(lambda: client.enqueue("send-email", {"to": 5, "user": {"id": "x"}}))
    assert "payload for queue 'send-email' does not match its payload_schema" in message
    assert "payload: 'template' is a required property" in message
    assert "payload.to: 5 is not of type 'string'" in message
    assert "payload.user.id: 'x' is not of type 'integer'" in message


def test_payload_must_be_json(client: Client) -> None:
    message = refused(lambda: client.enqueue("reports", {"ids": {1, 2}}))
    assert "payload for queue 'reports' is not JSON-serialisable" in message
    assert "set" in message
    assert "not JSON-serialisable" in refused(lambda: client.enqueue("reports", {"x": math.nan}))


def test_missing_template_field_is_named(client: Client) -> None:
    message = refused(lambda: client.enqueue("charge", {"order": {"total": 3}}))
    assert "idempotency key from 'order-{order.id}'" in message
    assert "payload has no field 'order.id'" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"priority": "hihg"}, "invalid priority 'hihg' (did you mean 'high'?)"),
        ({"priority": 1}, "invalid priority 1: expected one of critical, high, normal, low"),
        ({"delay": -1}, "delay must be zero or more seconds"),
        ({"delay": "10m"}, "delay must be seconds or a timedelta"),
        ({"at": datetime(2030, 1, 1)}, "has no time zone: pass an aware datetime"),
        ({"delay": 1, "at": time.time()}, "give either delay or at, not both"),
        ({"idempotency_key": ""}, "idempotency_key must be a non-empty string"),
    ],
)
def test_bad_options(client: Client, options: dict[str, Any], expected: str) -> None:
    assert expected in refused(lambda: client.enqueue("reports", {}, **options))


def test_enqueue_error_is_a_value_error() -> None:
    assert issubclass(EnqueueError, ValueError)


# -- what is stored ---------------------------------------------------------------


def test_enqueue_stores_a_queued_job(client: Client) -> None:
    job_id = client.enqueue("send-email", {**EMAIL, "user": {"id": 7}})
    info = client.job(job_id)
    assert isinstance(info, JobInfo)
    assert info.id == job_id and info.queue == "send-email"
    assert info.state is State.QUEUED and not info.done
    assert info.payload == {**EMAIL, "user": {"id": 7}}
    assert info.priority == "high"  # the queue's default
    assert info.idempotency_key == "ada@example.com:welcome"
    assert len(info.trace_id) == 32 and int(info.trace_id, 16) >= 0
    assert info.attempts == () and info.error is None
    assert abs(info.created - time.time()) < 5
    json.dumps(info.as_dict())


def test_priority_and_tuples(client: Client) -> None:
    job_id = client.enqueue("reports", {"ids": (1, 2)}, priority="critical")
    record = client.storage.record(job_id)
    assert record is not None
    assert record.job.priority == PRIORITY_RANK["critical"]
    assert record.job.payload == {"ids": [1, 2]}  # as the worker will see it


def test_no_payload_is_an_empty_object(client: Client) -> None:
    info = client.job(client.enqueue("reports"))
    assert info is not None and info.payload == {}


def test_unknown_job_is_none(client: Client) -> None:
    assert client.job("0" * 24) is None


@pytest.mark.parametrize("delay", [600, 600.0, timedelta(minutes=10)])
def test_delay_schedules(client: Client, delay: float | timedelta) -> None:
    info = client.job(client.enqueue("reports", {}, delay=delay))
    assert info is not None and info.state is State.SCHEDULED
    assert info.run_at is not None and abs(info.run_at - (time.time() + 600)) < 5


def test_at_schedules(client: Client) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    info = client.job(client.enqueue("reports", {}, at=when))
    assert info is not None and info.state is State.SCHEDULED
    assert info.run_at == pytest.approx(when.timestamp())
    past = client.job(client.enqueue("reports", {}, at=time.time() - 60))
    assert past is not None and past.state is State.QUEUED


# -- idempotency -----------------------------------------------------------------


def test_same_key_within_ttl_returns_the_first_id(client: Client) -> None:
    first = client.enqueue("send-email", EMAIL)
    assert client.enqueue("send-email", {**EMAIL, "user": {"id": 1}}) == first
    assert client.enqueue("send-email", {**EMAIL, "template": "bye"}) != first
    assert client.storage.stats()["send-email"].ready == 2


def test_explicit_key_wins_over_the_template(client: Client) -> None:
    first = client.enqueue("send-email", EMAIL, idempotency_key="k1")
    assert client.enqueue("send-email", EMAIL, idempotency_key="k2") != first
    assert client.enqueue("send-email", {**EMAIL, "to": "x"}, idempotency_key="k1") == first


def test_explicit_key_on_a_queue_without_idempotency(client: Client) -> None:
    first = client.enqueue("reports", {"n": 1}, idempotency_key="batch-7")
    assert client.enqueue("reports", {"n": 2}, idempotency_key="batch-7") == first
    assert client.enqueue("reports", {"n": 1}) != client.enqueue("reports", {"n": 1})


def test_nested_template_field(client: Client) -> None:
    job_id = client.enqueue("charge", {"order": {"id": 42}})
    info = client.job(job_id)
    assert info is not None and info.idempotency_key == "order-42"
    assert client.enqueue("charge", {"order": {"id": 42, "retry": True}}) == job_id


# -- batches -------------------------------------------------------------------------


def test_enqueue_many_stores_each_payload_in_order(client: Client) -> None:
    mails = [{**EMAIL, "to": f"{n}@example.com"} for n in range(5)]
    ids = client.enqueue_many("send-email", mails, delay=timedelta(hours=1))
    assert len(set(ids)) == 5 and client.storage.stats()["send-email"].scheduled == 5
    infos = [client.job(job_id) for job_id in ids]
    assert [i.payload["to"] for i in infos if i] == [m["to"] for m in mails]
    assert {i.priority for i in infos if i} == {"high"}  # the queue's
    low = client.enqueue_many("reports", ({"n": n} for n in range(3)), priority="low")
    assert {info.priority for info in map(client.job, low) if info} == {"low"}


def test_enqueue_many_refuses_the_whole_batch_naming_the_first_bad_payload(
    client: Client,
) -> None:
    batch = [EMAIL, {**EMAIL, "to": "b"}, {"to": "c"}, {"template": 1}]
    with pytest.raises(BatchRefused) as refused:
        client.enqueue_many("send-email", batch)
    assert refused.value.index == 2 and "'template' is a required property" in str(refused.value)
    assert str(refused.value).startswith("payload 2 of the batch (counting from 0): ")
    assert client.storage.stats().get("send-email") is None  # nothing stored
    with pytest.raises(BatchRefused, match=r"payload 1 .*derives its idempotency key"):
        client.enqueue_many("charge", [{"order": {"id": 1}}, {"order": {}}])
    with pytest.raises(BatchRefused, match=r"payload 0 .*not JSON-serialisable"):
        client.enqueue_many("reports", [{1, 2}])
    with pytest.raises(EnqueueError, match="unknown queue 'wrok'"):
        client.enqueue_many("wrok", [{}])
    with pytest.raises(EnqueueError, match="2 payloads but 1 idempotency keys"):
        client.enqueue_many("reports", [{}, {}], idempotency_keys=["k"])


def test_enqueue_many_answers_the_earlier_id_for_a_key_seen(client: Client) -> None:
    first = client.enqueue("send-email", EMAIL)
    ids = client.enqueue_many("send-email", [EMAIL, {**EMAIL, "to": "b"}, {**EMAIL, "to": "b"}])
    assert ids[0] == first and ids[1] == ids[2] != first
    keyed = client.enqueue_many("reports", [{}, {}, {}], idempotency_keys=["a", None, "a"])
    assert keyed[0] == keyed[2] != keyed[1]
    assert client.storage.stats()["reports"].ready == 2


# -- the published configuration ----------------------------------------------------


def test_configuration_is_cached_between_enqueues(client: Client) -> None:
    reads = []
    real = client.storage.published

    def counting() -> dict[str, Any] | None:
        reads.append(1)
        return real()

    client.storage.published = counting  # type: ignore[method-assign]
    for n in range(20):
        client.enqueue("reports", {"n": n})
    assert len(reads) <= 1


def test_a_new_queue_is_seen_at_once(client: Client, url: str, tmp_path: Path) -> None:
    client.enqueue("reports", {})
    publish(url, tmp_path, JOBS.replace("  reports:", "  invoices:"), generation=2)
    assert client.enqueue("invoices", {})  # a miss re-reads the configuration


def test_a_reload_is_seen_within_refresh(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path)
    with Client(url, refresh=0.05) as c:
        c.enqueue("send-email", EMAIL)
        loose = JOBS.replace("to: {type: string}", "to: {}")
        publish(url, tmp_path, loose, generation=2)
        time.sleep(0.1)
        assert c.enqueue("send-email", {"to": 5, "template": "t"})  # the new schema applies
        assert c.published().generation == 2


def test_client_closes_its_storage(url: str, tmp_path: Path) -> None:
    publish(url, tmp_path)
    with Client(url) as c:
        c.enqueue("reports", {})
    c2 = Client(url)
    c2.close()


def test_import_stays_light() -> None:
    code = (
        "import sys, jobrunner; jobrunner.Client; "
        "heavy = {'jsonschema', 'redis', 'yaml'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
