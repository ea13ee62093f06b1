"""Worker and producer processes, each in a process group of its own.

Celery's prefork pool, Huey's and Dramatiq's worker processes and jobrunner's
`--processes` children all live in their parent's group, so after the parent's
own shutdown a SIGKILL to the group leaves nothing behind. `compile_sources`
compiles jobrunner's modules first, as pip compiles an installed package's.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

APPS = Path(__file__).resolve().parent / "peers" / "apps"


class Group:
    """Processes started together, in new sessions, with their output in `log`."""

    def __init__(self, commands: Sequence[Sequence[str]], env: Mapping[str, str], log: Path):
        self.processes: list[subprocess.Popen[bytes]] = []
        environ = {**os.environ, **env, "PYTHONPATH": str(APPS)}
        with open(log, "ab") as out:
            for command in commands:
                self.processes.append(
                    subprocess.Popen(
                        list(command),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=environ,
                        cwd=log.parent,
                        start_new_session=True,
                    )
                )
        self.log = log

    def check(self) -> None:
        """Raise when a process ended with an error: a dead worker fails the run at once."""
        for process in self.processes:
            if process.poll() not in (None, 0):
                tail = self.log.read_text(errors="replace")[-2000:]
                command = " ".join(map(str, process.args))  # type: ignore[arg-type]
                raise RuntimeError(f"`{command}` exited with {process.returncode}:\n{tail}")

    def wait(self, timeout: float) -> None:
        for process in self.processes:
            process.wait(timeout)
        self.check()

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM to each leader, which stops its own children as in production; SIGKILL
        to the whole group after `grace` (the measurement is over: a backlog may be left)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(grace)
            _signal_group(process, signal.SIGKILL)  # children that outlived their parent too
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def compile_sources() -> None:
    """Compile jobrunner's own modules to bytecode first, as pip does when it installs a
    package (the peers run from site-packages, compiled so). From a checkout (an editable
    install) with PYTHONDONTWRITEBYTECODE set, every process jobrunner starts, such as a
    worker process started in the middle of a drain, would compile them again."""
    import jobrunner
    import jobrunner_plugins

    for package in (jobrunner, jobrunner_plugins):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
