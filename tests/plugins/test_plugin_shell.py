"""The `shell` plugin runs real commands: stdin, env, cwd, exit codes, output, timeouts.

Every test starts real subprocesses. The timeout tests look in /proc for the
processes of the command's group afterwards: killed means none of them is
left but zombies waiting for init to reap them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from jobrunner import JobContext, PermanentError
from jobrunner_plugins import shell
from jobrunner_plugins.shell import Shell

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _ctx(timeout: float = 10.0) -> JobContext:
    return JobContext("job-1", "reports", 1, time.monotonic() + timeout)


def _run(payload: Any = None, timeout: float = 10.0, **params: Any) -> Any:
    return Shell(params).run(_ctx(timeout), payload)


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _group(pgid: int) -> list[int]:
    """The live (non-zombie) processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _gone(pids: list[int], within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


# -- input and environment ----------------------------------------------------


def test_payload_arrives_as_json_on_stdin_and_json_stdout_is_parsed() -> None:
    payload = {"to": "ops@example.com", "n": [1, 2], "text": "café"}
    result = _run(payload, command=["cat"])
    assert result == {
        "exit_code": 0,
        "stdout": json.dumps(payload),
        "stderr": "",
        "result": payload,
    }


def test_stdout_that_is_not_one_json_document_stays_text() -> None:
    result = _run(command=["sh", "-c", "echo '{\"a\": 1}'; echo done; echo warn >&2"])
    assert result == {"exit_code": 0, "stdout": '{"a": 1}\ndone\n', "stderr": "warn\n"}
    assert "result" not in _run(command=["echo", "NaN"])


def test_invalid_utf8_is_replaced() -> None:
    result = _run(command=["printf", "ok \\377\\n"])
    assert result["stdout"] == "ok \ufffd\n"


def test_env_is_merged_over_the_daemons_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBRUNNER_TEST_INHERITED", "from-daemon")
    monkeypatch.setenv("JOBRUNNER_TEST_OVERRIDDEN", "from-daemon")
    result = _run(
        command='echo "$JOBRUNNER_TEST_INHERITED $JOBRUNNER_TEST_OVERRIDDEN $EXTRA"',
        shell=True,
        env={"JOBRUNNER_TEST_OVERRIDDEN": "from-params", "EXTRA": "x y"},
    )
    assert result["stdout"] == "from-daemon from-params x y\n"
    assert os.environ["JOBRUNNER_TEST_OVERRIDDEN"] == "from-daemon"


def test_cwd(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("here")
    assert _run(command=["cat", "marker"], cwd=str(tmp_path))["stdout"] == "here"


def test_a_command_that_ignores_a_large_payload_neither_hangs_nor_fails() -> None:
    big = "x" * 1_000_000
    assert _run(big, command=["true"])["exit_code"] == 0
    assert _run(big, command=["wc", "-c"])["stdout"].strip() == str(len(big) + 2)


# -- exit codes ---------------------------------------------------------------


def test_nonzero_exit_is_retryable_and_quotes_the_tail_of_stderr() -> None:
    script = "for i in $(seq 1 2000); do echo line-$i >&2; done; exit 3"
    with pytest.raises(RuntimeError) as failed:
        _run(command=["sh", "-c", script])
    assert type(failed.value) is RuntimeError
    message = str(failed.value)
    assert message.startswith("'sh' exited with 3; stderr: ")
    assert message.endswith("line-2000")
    assert "line-1\n" not in message
    assert len(message) < shell.ERROR_TAIL + 100


def test_listed_exit_code_is_permanent() -> None:
    params = {"command": ["sh", "-c", "echo 'bad input' >&2; exit 2"]}
    with pytest.raises(PermanentError, match=r"exited with 2, listed in .*stderr: bad input"):
        _run(**params, permanent_exit_codes=[2, 64])
    with pytest.raises(RuntimeError, match="exited with 2") as failed:
        _run(**params, permanent_exit_codes=[64])
    assert not isinstance(failed.value, PermanentError)


def test_death_by_a_signal_is_retryable() -> None:
    with pytest.raises(RuntimeError, match="killed by SIGKILL; stderr: \\(nothing on stderr\\)"):
        _run(command=["sh", "-c", "kill -KILL $$"])


def test_shell_messages_do_not_quote_the_script() -> None:
    """A script may hold resolved `${env:…}` secrets: messages name the shell only."""
    with pytest.raises(RuntimeError) as failed:
        _run(command="token=s3cr3t; exit 5", shell=True)
    assert str(failed.value) == "the `sh -c` command exited with 5; stderr: (nothing on stderr)"


# -- output -------------------------------------------------------------------


def test_output_keeps_the_end_and_says_it_was_truncated() -> None:
    script = "seq 1 10000; seq 1 10000 >&2"
    result = _run(command=["sh", "-c", script], max_output=16)
    total = len("".join(f"{i}\n" for i in range(1, 10001)).encode())
    expected = f"[truncated: {total - 16} earlier bytes dropped]\n9998\n9999\n10000\n"
    assert result["stdout"] == expected
    assert result["stderr"] == expected


def test_max_output_zero_keeps_nothing_but_the_note() -> None:
    result = _run(command=["echo", "hello"], max_output=0)
    assert result["stdout"] == "[truncated: 6 earlier bytes dropped]\n"
    assert "result" not in result


def test_output_within_the_limit_is_not_marked() -> None:
    assert _run(command=["echo", "hello"], max_output=6)["stdout"] == "hello\n"


# -- commands that cannot start -----------------------------------------------


def test_missing_executable_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"cannot run '.*/missing': No such file"):
        _run(command=[str(tmp_path / "missing")])
    with pytest.raises(PermanentError, match="cannot run 'no-such-program-jobrunner'"):
        _run(command=["no-such-program-jobrunner", "--flag"])


def test_a_file_that_is_not_executable_is_permanent(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(PermanentError, match="Permission denied"):
        _run(command=[str(script)])


def test_missing_working_directory_is_permanent(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(PermanentError, match=f"cannot use working directory '{missing}'"):
        _run(command=["true"], cwd=str(missing))


def test_params_that_mix_shell_and_argv_are_refused() -> None:
    with pytest.raises(ValueError, match="shell: true"):
        Shell({"command": "echo hi"})
    with pytest.raises(ValueError, match="shell: true"):
        Shell({"command": ["echo", "hi"], "shell": True})


# -- timeouts -----------------------------------------------------------------


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


@needs_proc
def test_hanging_command_and_its_children_are_killed_at_the_deadline(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sh -c 'echo $$ >> {pids}; sleep 60'"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"still running at its timeout of 0\.5s"):
        _run(command=script, shell=True, timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 0.5 + shell.KILL_GRACE + 1
    leader, *children = _pids(pids)
    assert len(children) == 2
    assert _gone([leader, *children])
    assert _group(leader) == []


@needs_proc
def test_a_command_that_ignores_sigterm_gets_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "KILL_GRACE", 0.3)
    pids = tmp_path / "pids"
    script = f"trap '' TERM; echo $$ > {pids}; sleep 60 & echo $! >> {pids}; wait"
    with pytest.raises(TimeoutError):
        _run(command=script, shell=True, timeout=0.3)
    leader, child = _pids(pids)
    assert _gone([leader, child])
    assert _group(leader) == []


@needs_proc
def test_output_held_open_by_a_background_child_counts_as_running(tmp_path: Path) -> None:
    """The command is done when its output closes: a child still writing keeps it running."""
    pids = tmp_path / "pids"
    with pytest.raises(TimeoutError):
        _run(command=f"sleep 60 & echo $! > {pids}; exit 0", shell=True, timeout=0.5)
    assert _gone(_pids(pids))


def test_no_time_left_means_no_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(TimeoutError):
        _run(command=["touch", str(marker)], timeout=-1)
    time.sleep(0.1)
    assert not marker.exists()


def test_running_groups_are_forgotten_when_they_end() -> None:
    _run(command=["true"])
    with pytest.raises(RuntimeError):
        _run(command=["false"])
    with pytest.raises(TimeoutError):
        _run(command=["sleep", "60"], timeout=0.2)
    assert shell._running == set()


# -- the daemon exits while a command runs -------------------------------------

DAEMON = """
import sys, threading, time
from pathlib import Path
from jobrunner import JobContext
from jobrunner_plugins.shell import Shell

pids = sys.argv[1]
plugin = Shell({"command": f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; wait", "shell": True})
ctx = JobContext("job-1", "reports", 1, time.monotonic() + 60)
threading.Thread(target=plugin.run, args=(ctx, {}), daemon=True).start()


def started():
    try:
        return len(Path(pids).read_text().split()) == 2
    except FileNotFoundError:
        return False


while not started():
    time.sleep(0.01)
print("running", flush=True)
"""


@needs_proc
def test_commands_do_not_outlive_the_daemon(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    daemon = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DAEMON), str(pids)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert daemon.returncode == 0, daemon.stderr
    assert daemon.stdout == "running\n"
    leader, child = _pids(pids)
    assert _gone([leader, child])
    assert _group(leader) == []
