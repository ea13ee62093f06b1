"""A handler that cannot be set up (an import, a secret) is a problem with a place.

Its jobs fail with `SetupError` and follow the queue's retry policy (a fix
within the backoff saves them; after the last attempt they wait in the
dead-letter queue for a replay), and `jobrunner status` names the queue's file
and line until an attempt sets the handler up again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli
from daemon_proc import Daemon, wait_until

from jobrunner.job import Job, State, new_id
from jobrunner.storage import Storage

BROKEN = """\
version: 1
queues:
  billing:
    handler: python
    params: {{callable: "{callable}"}}
    isolation: {isolation}
    retry: {{attempts: 2, backoff: fixed, delay: 100ms, jitter: 0}}
"""


def enqueue(store: Storage, queue: str) -> str:
    return store.enqueue(Job(id=new_id(), queue=queue, payload={"n": 1}, created=time.time()))


def state(store: Storage, job_id: str) -> State | None:
    record = store.record(job_id)
    return record.state if record else None


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_an_unimportable_handler_is_a_problem_in_status_until_fixed(
    isolation: str,
    url: str,
    store: Storage,
    daemons: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    billing = jobs / "billing.yaml"
    billing.write_text(BROKEN.format(callable="billing_app.tasks:send", isolation=isolation))
    daemons(jobs, url, "--lease", "1s")
    job_id = enqueue(store, "billing")
    wait_until(lambda: state(store, job_id) is State.DEAD, what="the job is dead")
    record = store.record(job_id)
    assert record is not None
    assert [a.error_type for a in record.attempts] == ["SetupError", "SetupError"]
    assert "cannot import 'billing_app.tasks:send'" in record.attempts[0].error

    def problems() -> list[dict[str, object]]:
        shown = run_cli("status", "--storage", url, "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        return [p for d in data["daemons"] for p in d.get("setup_problems", [])]

    wait_until(lambda: bool(problems()), what="status shows the problem")
    [problem] = problems()
    assert (problem["lane"], problem["line"]) == ("billing", 3)
    assert str(problem["file"]).endswith("billing.yaml")
    text = run_cli("status", "--storage", url).stdout
    assert "billing.yaml:3: queue 'billing': its handler cannot be set up" in text
    assert "cannot import 'billing_app.tasks:send'" in text

    billing.write_text(BROKEN.format(callable="jobapp:echo", isolation=isolation))
    time.sleep(1.5)  # the reload applies within a second
    assert run_cli("dlq", "replay", job_id, "--storage", url).returncode == 0
    wait_until(lambda: state(store, job_id) is State.SUCCEEDED, what="the replay succeeds")
    wait_until(lambda: not problems(), what="the problem clears")
    assert "cannot be set up" not in run_cli("status", "--storage", url).stdout
