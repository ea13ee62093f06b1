"""No orphans: a command or an isolated handler never outlives a SIGKILLed daemon, so the copy
of its job delivered again never runs beside the first one."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from daemon_proc import Daemon, wait_until

from jobrunner.job import Job, new_id
from jobrunner.storage import open_storage

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="Linux: PR_SET_PDEATHSIG")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_sigkilled_daemon_takes_its_commands_and_isolated_handlers_with_it(
    tmp_path: Path,
) -> None:
    pidfile, out = tmp_path / "shell.pid", tmp_path / "out.jsonl"
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "work.yaml").write_text(f"""\
version: 1
queues:
  cmd:
    handler: shell
    params: {{command: ["/bin/sh", "-c", "echo $$ > {pidfile}; exec sleep 300"]}}
  iso:
    handler: python
    params: {{callable: "jobapp:hang"}}
    isolation: process
""")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(jobs, url, log=tmp_path / "daemon.log").start()
    store, pids = open_storage(url), list[int]()
    try:
        for queue in ("cmd", "iso"):
            store.enqueue(Job(new_id(), queue, {"out": str(out)}, created=time.time()))
        wait_until(lambda: pidfile.exists() and out.exists(), what="both jobs to start")
        wait_until(lambda: pidfile.read_text().strip() != "", what="the shell pid")
        pids += [int(pidfile.read_text()), json.loads(out.read_text().splitlines()[0])["pid"]]
        assert all(map(alive, pids)) and os.getpid() not in pids
        daemon.kill()
        wait_until(lambda: not any(map(alive, pids)), what="the children to die", timeout=5)
    finally:
        store.close()
        for pid in pids:
            if alive(pid):
                os.kill(pid, 9)
