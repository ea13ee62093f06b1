"""Resolved secrets never reach the logs or the storage."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from daemon_proc import Daemon, wait_until

from jobrunner.job import Job, State, new_id
from jobrunner.storage import open_storage

SECRET = "s3cr3t-value-that-must-not-leak"


def test_a_failing_job_with_secret_params_leaks_nothing(tmp_path: Path, jobs_dir: Any) -> None:
    jobs = jobs_dir(
        **{
            "q.yaml": """\
version: 1
queues:
  deploy:
    handler: shell
    params:
      command: ["sh", "-c", "test \\"$TOKEN\\" = \\"$EXPECTED\\" && exit 3"]
      env: {TOKEN: "${env:DEPLOY_TOKEN}", EXPECTED: "${file:%s}"}
    retry: {attempts: 2, delay: 100ms}
"""
            % (tmp_path / "secret.txt")
        }
    )
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    log = tmp_path / "daemon.log"
    daemon = Daemon(jobs, url, log=log, env={"DEPLOY_TOKEN": SECRET}).start()
    store = open_storage(url)
    try:
        job = store.enqueue(Job(new_id(), "deploy", {"n": 1}, created=time.time()))
        wait_until(
            lambda: (r := store.record(job)) is not None and r.state is State.DEAD,
            what="the job is dead",
            timeout=20,
        )
        record = store.record(job)
        assert record is not None
        assert "exit" in record.reason and "3" in record.reason  # the secrets matched: exit 3
        stored = json.dumps(
            [record.encode(), store.published(), store.get_value("last-good-files")]
        )
    finally:
        daemon.stop()
        store.close()
    assert SECRET not in log.read_text()
    assert SECRET not in stored
    for path in tmp_path.glob("state.db*"):  # the database, its WAL and shared memory
        assert SECRET.encode() not in path.read_bytes(), path
