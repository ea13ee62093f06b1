"""`jobrunner run` as a real subprocess, with its JSON logs at hand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

APPS = Path(__file__).resolve().parent / "apps"


class Daemon:
    def __init__(
        self, jobs_dir: Path, storage: str, *args: str, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = [
            sys.executable,
            "-m",
            "jobrunner",
            "run",
            "--jobs-dir",
            str(jobs_dir),
            "--storage",
            storage,
            "--log-format",
            "json",
            # one process unless a test asks for more (tests/daemon/test_processes.py)
            *(() if "--processes" in args else ("--processes", "1")),
            *args,
        ]
        self.log = log
        self.env = {**os.environ, "PYTHONPATH": str(APPS), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=log, env=self.env, cwd=self.log.parent
            )
        self.wait_for(lambda e: e.get("msg") == "ready", what="ready")
        return self

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                found.append({"msg": "(not json)", "line": line})
        return found

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.events():
                if match(entry):
                    return entry
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.process.returncode}) before "
                    f"{what}:\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


def wait_until(check: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
