"""docs/wire.md is true: a producer that writes to Redis the documented way, without
jobrunner's Python, gets its jobs run by a real daemon (signed or not); a message
signed with another key is dead-lettered, never run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_proc import Daemon, wait_until

from jobrunner.storage import open_storage
from jobrunner.storage.redis.scripts import source
from jobrunner.storage.signing import Keys

DOC = Path(__file__).parents[2] / "docs" / "wire.md"
KEY = "s" * 32
JOBS = "version: 1\nqueues:\n  work: {handler: python, params: {callable: 'jobapp:record'}}\n"


def documented_enqueue() -> Any:
    """The `enqueue` function of the doc's Python example, as written there."""
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)
    return scope["enqueue"]


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
def test_jobs_enqueued_the_documented_way_run(
    redis_url: str, tmp_path: Path, key: str | None
) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(JOBS)
    out = tmp_path / "out.jsonl"
    env = {"JOBRUNNER_SIGNING_KEY": key} if key else {}
    daemon = Daemon(jobs, redis_url, log=tmp_path / "daemon.log", env=env).start()
    try:
        enqueue = documented_enqueue()
        r = redis.Redis.from_url(redis_url)
        payloads = [{"out": str(out), "n": n} for n in range(3)]
        ids = enqueue(r, source("enqueue"), "work", payloads, signing_key=key)
        forged = enqueue(r, source("enqueue"), "work", payloads[:1], signing_key="f" * 32)
        store = open_storage(redis_url, Keys.parse(key, "test") if key else None)

        def ended() -> bool:
            records = [store.record(i) for i in [*ids, *forged]]
            return all(r is not None and r.state.value in ("succeeded", "dead") for r in records)

        wait_until(ended, what="the hand-enqueued jobs to end")
        assert [store.record(i).state.value for i in ids] == ["succeeded"] * 3  # type: ignore[union-attr]
        ran = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(n["n"] for n in ran if n["phase"] == "end") == [0, 1, 2]
        [refused] = [store.record(i) for i in forged]  # dead, never run: with a key in use
        assert refused is not None and refused.state.value == "dead"  # not it, without: not JSON
        why = "signed with a key not in use" if key else "unreadable message"
        assert why in refused.reason
        store.close()
    finally:
        assert daemon.stop() == 0
