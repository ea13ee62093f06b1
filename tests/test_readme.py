"""README.md's walkthrough, as a newcomer meets it: "The first five minutes" and "Run it".

Every command the README shows runs here, in a copy of the repository's
`jobs.d/` that is a Git work tree (as a checkout is), and its output must be
the README's. The expected text is read from README.md itself, never copied
into this file: its ```console blocks (a `$ ` line is a command, the lines
after it its output), its ```yaml block for `billing.yaml`, its ```json log
line and the values its prose quotes. Only what differs from one run to the
next is normalised: timestamps, ages (`3s ago`), next ticks (`in 18s`),
durations (`815ms`), job and trace ids, the daemon's id, host and pid, the Git
commit, and the column widths those change.

The daemon part runs once for the module (`run_it`); its checks are separate
tests, so that one wrong line does not hide the others.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_cli
from daemon_proc import Daemon
from servers import free_port

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

README = ROOT / "README.md"


# -- reading the README ----------------------------------------------------


def _section(text: str, heading: str) -> str:
    """From the line `heading` to the next heading of the same or a higher level."""
    start = text.index(f"\n{heading}\n") + 1
    level = len(heading) - len(heading.lstrip("#"))
    after = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start + len(heading))
    return text[start : after.start() if after else len(text)]


@dataclass
class Step:
    command: str
    output: list[str] = field(default_factory=list)


def _console(text: str) -> list[list[Step]]:
    """The ```console blocks of `text`, each as its commands with the output shown for each."""
    blocks = []
    for body in re.findall(r"^```console\n(.*?)^```", text, re.M | re.S):
        steps: list[Step] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            else:
                assert steps, f"README.md: output before any command in a console block: {line!r}"
                steps[-1].output.append(line)
        blocks.append(steps)
    return blocks


def _quoted(text: str, pattern: str) -> tuple[str, ...]:
    """The groups of `pattern` (backquoted values in prose), which must occur in `text`.

    Whitespace is matched as Markdown shows it: a line break is a space.
    """
    match = re.search(pattern, " ".join(text.split()))
    assert match, f"README.md no longer says {pattern!r}"
    return match.groups()


@dataclass
class Walkthrough:
    status: str  # the "Status" section
    first: str  # "The first five minutes", up to "Run it"
    run_it: str  # "Run it"


@pytest.fixture(scope="module")
def readme() -> Walkthrough:
    text = README.read_text(encoding="utf-8")
    five = _section(text, "## The first five minutes")
    head, _, _ = five.partition("\n### Run it\n")
    return Walkthrough(_section(text, "## Status"), head, _section(text, "### Run it"))


# -- what varies -----------------------------------------------------------

VARYING = [
    (r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?", "<time>"),
    (r"\b(?:\d+[dhm])*\d+[dhms] ago\b", "<age> ago"),
    (r"\bin (?:\d+[dhm])*\d+[dhms]\b", "in <interval>"),
    (r"\b\d+ms\b|\b\d+\.\d+s\b", "<took>"),
    (r"\b[0-9a-f]{40}\b", "<commit>"),
    (r"\b[0-9a-f]{32}\b", "<trace>"),
    (r"\b[0-9a-f]{24}\b", "<job>"),
    (r"\b[\w.-]+-\d+-[0-9a-f]{6}\b", "<daemon>"),
    (r"<daemon>( +)\S+( +)\d+\b", r"<daemon>\1<host>\2<pid>"),  # `status`: HOST, PID
]


def _normalise(line: str) -> str:
    """`line` with what varies from run to run replaced, and column gaps made two spaces."""
    for pattern, replacement in VARYING:
        line = re.sub(pattern, replacement, line)
    return re.sub(r"(?<=\S) {2,}", "  ", line.rstrip())


def _same(lines: list[str]) -> list[str]:
    return [_normalise(line) for line in lines]


# -- running the README's commands ---------------------------------------


class Shell:
    """The newcomer's shell, in the checkout, for the commands the README uses."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.status = 0
        self.stderr = ""
        self.ids: dict[str, str] = {}  # a job id the README shows -> the one this run made

    def run(self, command: str) -> list[str]:
        for shown, real in self.ids.items():
            command = command.replace(shown, real)
        argv = shlex.split(command)
        if argv == ["echo", "$?"]:
            lines, self.status = [str(self.status)], 0
        elif argv[0] == "rm":
            for name in argv[1:]:
                (self.cwd / name).unlink()
            lines, self.status = [], 0
        elif argv[0] == "jobrunner":
            result = run_cli(*argv[1:], cwd=self.cwd)
            lines, self.status = (result.stdout + result.stderr).splitlines(), result.returncode
            self.stderr = result.stderr
        else:
            pytest.fail(f"README.md runs `{command}`, which this test does not know how to run")
        return lines


def _checkout(where: Path) -> Path:
    """A copy of the repository's jobs.d/ in a Git work tree of its own, as a clone has it."""
    shutil.copytree(ROOT / "jobs.d", where / "jobs.d")
    for args in (["init", "-q"], ["add", "jobs.d"], ["commit", "-qm", "jobs.d"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=where,
            check=True,
            capture_output=True,
        )
    return where


def _billing(first: str) -> str:
    """The README's `jobs.d/billing.yaml`: its first ```yaml block that is a job file."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", first, re.M | re.S)
    files = [block for block in blocks if block.startswith("version: 1\n")]
    assert files, "README.md: no job file to add"
    return files[0]


# -- The first five minutes ---------------------------------------------------


def test_first_five_minutes(readme: Walkthrough, tmp_path: Path) -> None:
    shell = Shell(_checkout(tmp_path))
    check, misspelt, schedules = _console(readme.first)

    (step,) = check
    assert shell.run(step.command) == step.output
    assert shell.status == 0

    billing = _billing(readme.first)
    (tmp_path / "jobs.d" / "billing.yaml").write_text(billing)
    command, says = _quoted(readme.first, r"`(jobrunner validate [^`]+)` now says `([^`]+)`")
    assert shell.run(command) == [says]
    assert shell.status == 0

    # "Misspell the time zone as `Europe/Berlim` and the queue as `invoice`"
    zone, queue = _quoted(
        readme.first, r"Misspell the time zone as `([^`]+)` and the queue as `([^`]+)`"
    )
    crons = yaml.safe_load(billing)["cron"]
    (good_zone,) = {c["timezone"] for c in crons.values() if "timezone" in c}
    (good_queue,) = {c["queue"] for c in crons.values() if "queue" in c}
    wrong = billing
    for key, good, bad in (("timezone", good_zone, zone), ("queue", good_queue, queue)):
        assert wrong.count(f"{key}: {good}\n") == 1, key
        wrong = wrong.replace(f"{key}: {good}\n", f"{key}: {bad}\n")
    (tmp_path / "jobs.d" / "billing.yaml").write_text(wrong)
    validate, echo = misspelt
    assert shell.run(validate.command) == validate.output
    assert shell.stderr.splitlines() == validate.output[-1:], "the count is on standard error"
    assert shell.run(echo.command) == echo.output

    (tmp_path / "jobs.d" / "billing.yaml").write_text(billing)  # "Fix both"
    (step,) = schedules
    assert shell.run(step.command) == step.output
    assert shell.status == 0


def test_status_states_the_measured_validate_time(readme: Walkthrough) -> None:
    (shown,) = _quoted(readme.status, r"takes about ([\d.]+) s")
    bench = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    row = r"\| `jobrunner validate`, 1,000 files / 10,000 entries \| ([\d.]+) s"
    (measured,) = _quoted(bench, row)
    assert f"{float(measured):.1f}" == shown


# -- Run it ----------------------------------------------------------------------

SAFE_SECONDS = 8  # from `jobrunner run` to `jobrunner status`: about 1.5 s, and room to spare


class Newcomer(Daemon):
    """`jobrunner run` as the README types it: no options, in the checkout, no test env."""

    def __init__(self, command: str, cwd: Path) -> None:
        super().__init__(cwd / "jobs.d", "", log=cwd / "daemon.log")
        self.command = [sys.executable, "-m", *shlex.split(command)]
        # the README's machine has two CPUs: the daemon and one worker process, whatever this
        # machine has
        self.env = {**os.environ, "JOBRUNNER_PROCESSES": "2"}


@dataclass(repr=False)  # a failing test shows its own diff, not all of this
class Ran:
    """What the README shows and what the same commands did, for the tests to compare."""

    shown: dict[str, Step]  # by command as the README shows it
    got: dict[str, list[str]]
    status: dict[str, int]
    log: list[dict[str, Any]]  # the daemon's events up to the edit
    raw: list[str]  # its log lines, as printed
    plan: tuple[str, float | None]  # the plan line the README promises for an edit, seconds
    stopped: tuple[int | None, list[dict[str, Any]]]  # exit status and events after Ctrl-C


def _clear_of_a_minute() -> None:
    """Wait out the end of a minute, so no cron entry ticks before `status` (heartbeat would)."""
    left = 60 - time.time() % 60
    if left < SAFE_SECONDS:
        time.sleep(left + 0.5)


@pytest.fixture(scope="module")
def run_it(readme: Walkthrough, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    where = _checkout(tmp_path_factory.mktemp("checkout"))
    (where / "jobs.d" / "billing.yaml").write_text(_billing(readme.first))  # as left above
    shell = Shell(where)
    blocks = _console(readme.run_it)
    assert len(blocks) == 2, "Run it: a block that starts the daemon, one for the other terminal"
    *before, start = blocks[0]
    assert start.command.startswith("jobrunner run")
    shown = {step.command: step for block in blocks for step in block}
    got: dict[str, list[str]] = {}
    status: dict[str, int] = {}
    for step in before:
        got[step.command], status[step.command] = shell.run(step.command), shell.status

    _clear_of_a_minute()
    daemon = Newcomer(start.command, where)
    try:
        daemon.start()
        for step in blocks[1]:
            lines = shell.run(step.command)
            if step.command.startswith("jobrunner enqueue") and shell.status == 0:
                shell.ids[step.output[0]] = lines[0]
            deadline = time.monotonic() + 20
            while step.command.startswith("jobrunner jobs show") and time.monotonic() < deadline:
                if any(re.match(r"state: +(succeeded|failed|dead)", line) for line in lines):
                    break
                time.sleep(0.1)
                lines = shell.run(step.command)
            got[step.command], status[step.command] = lines, shell.status
        # the start, not the jobs, nor the worker process's own lines (left out in the README)
        log = [e for e in daemon.events() if "job" not in e and "process" not in e]
        raw = daemon.log.read_text().splitlines()

        # "the change applies within a second, and the log prints the plan (`~ queue …`)"
        (plan,) = _quoted(readme.run_it, r"the log prints the plan \(`([^`]+)`\)")
        name, key, old, new = _quoted(plan, r"^~ \w+ (\S+): (\w+) (\S+) → (\S+)$")
        files = [p for p in (where / "jobs.d").glob("*.yaml") if f"  {name}:\n" in p.read_text()]
        (path,) = files
        text = path.read_text()
        assert text.count(f"    {key}: {old}\n") == 1
        edited = time.monotonic()
        path.write_text(text.replace(f"    {key}: {old}\n", f"    {key}: {new}\n"))
        took: float | None = None
        deadline = edited + 5
        while took is None and time.monotonic() < deadline:
            # the daemon's own plan line: a worker process's (logged too) may come first
            events = daemon.events()
            if any(e.get("msg") == f"plan: {plan}" and "process" not in e for e in events):
                took = time.monotonic() - edited
            time.sleep(0.05)

        # "Ctrl-C lets running jobs finish"
        seen = len(daemon.events())
        daemon.signal(signal.SIGINT)
        assert daemon.process is not None
        code = daemon.process.wait(35)  # not `stop()`: a second signal would exit at once
        yield Ran(shown, got, status, log, raw, (plan, took), (code, daemon.events()[seen:]))
    finally:
        if daemon.process and daemon.process.poll() is None:
            daemon.kill()


def _fields(line: str) -> tuple[str, str, dict[str, str]]:
    """A log line for people, as `jobrunner run` prints it on a terminal, without its time."""
    match = re.match(r"^\S+ (?P<level>[A-Z]+) +(?P<msg>.+?)(?: {2}(?P<fields>\S.*))?$", line)
    assert match, f"README.md: not a log line: {line!r}"
    fields = {}
    for key, value in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', match["fields"] or ""):
        fields[key] = _normalise(json.loads(value) if value.startswith('"') else value)
        if key == "pid":
            fields[key] = "<pid>"
    return match["level"].lower(), match["msg"], fields


def _event(entry: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """A JSON log event, as the same line for people would show it."""
    fields = {}
    for key, value in entry.items():
        if key not in ("ts", "level", "msg") and value not in (None, ""):
            fields[key] = _normalise(f"{value:.3f}" if isinstance(value, float) else str(value))
            if key == "pid":
                fields[key] = "<pid>"
    return entry.get("level", "?"), entry["msg"], fields


def test_run_logs_what_the_readme_shows(run_it: Ran) -> None:
    """Each line the README shows, by event and fields, and no other line at start.

    In particular `configuration in force` once, and `ready` with the configured
    queues only (`queues="reports, send-email"`), not the cron entries."""
    (start,) = [s for c, s in run_it.shown.items() if c.startswith("jobrunner run")]
    assert [_event(e) for e in run_it.log] == [_fields(line) for line in start.output]


def test_json_log_line_is_as_the_daemon_prints_it(readme: Walkthrough, run_it: Ran) -> None:
    blocks = re.findall(r"^```json\n(.*?)^```", readme.run_it, re.M | re.S)
    assert len(blocks) == 1 and blocks[0].count("\n") == 1, "one JSON log line"
    shown = blocks[0].strip()
    msg = json.loads(shown)["msg"]
    printed = [line for line in run_it.raw if json.loads(line).get("msg") == msg]
    assert printed, f"the daemon logged no {msg!r}"
    assert _normalise(printed[0]) == _normalise(shown)


def _client(run_it: Ran, prefix: str) -> list[tuple[str, list[str], list[str], int]]:
    """(command, shown, got, exit status) of the README's commands that start with `prefix`."""
    return [
        (c, s.output, run_it.got[c], run_it.status[c])
        for c, s in run_it.shown.items()
        if c.startswith(prefix) and c in run_it.got
    ]


def test_enqueue_prints_a_job_id(run_it: Ran) -> None:
    ((_, shown, got, code), refused) = _client(run_it, "jobrunner enqueue")
    assert code == 0
    assert _same(got) == _same(shown) == ["<job>"]
    _, shown, got, code = refused
    assert (got, code) == (shown, 1)


def test_jobs_show_the_succeeded_job(run_it: Ran) -> None:
    ((_, shown, got, code),) = _client(run_it, "jobrunner jobs show")
    assert code == 0
    assert _same(got) == _same(shown)


def _daemon_queues(lines: list[str]) -> tuple[list[str], list[str]]:
    """`status` without the QUEUES cell of its daemons, and those cells."""
    rest, cells = [], []
    header = next((i for i, line in enumerate(lines) if line.startswith("  ID ")), len(lines))
    for i, line in enumerate(lines):
        if i > header and line.startswith("  ") and not line.startswith("   "):
            line, _, queues = line.rpartition("  ")
            cells.append(queues.strip())
        elif i > header:
            header = len(lines)  # past the daemons table
        rest.append(line)
    return rest, cells


def test_status_shows_the_state_the_walkthrough_leaves(run_it: Ran) -> None:
    ((_, shown, got, code),) = _client(run_it, "jobrunner status")
    assert code == 0
    assert _same(_daemon_queues(got)[0]) == _same(_daemon_queues(shown)[0])


def test_status_daemons_serve_the_configured_queues(run_it: Ran) -> None:
    """The QUEUES of a daemon: the configured queues, not the cron entries that run a handler."""
    ((_, shown, got, _),) = _client(run_it, "jobrunner status")
    assert _daemon_queues(got)[1] == _daemon_queues(shown)[1]


def test_an_edit_applies_and_logs_its_plan(run_it: Ran) -> None:
    plan, took = run_it.plan
    assert took is not None, f"no `plan: {plan}` in the log within 5 s of the edit"
    assert took < 1.5, f"the edit took {took:.1f} s to apply; the README says within a second"


def test_ctrl_c_lets_running_jobs_finish(readme: Walkthrough, run_it: Ran) -> None:
    (grace,) = _quoted(readme.run_it, r"for up to `--grace`, (\d+) s\)")
    code, events = run_it.stopped
    assert code == 0
    events = [e for e in events if "process" not in e]  # the daemon's, not its worker's
    assert [(e["msg"], e.get("grace")) for e in events][:1] == [
        ("stopping: running jobs may finish", float(grace))
    ]


# -- Over HTTP -------------------------------------------------------------------


def test_over_http(tmp_path: Path) -> None:
    """ "Over HTTP": the daemon with `--http 9100` (here a free port), and each curl of the
    block in a real shell, its output the README's."""
    text = README.read_text(encoding="utf-8")
    section = _section(text, "### Over HTTP")
    (flag,) = _quoted(section, r"Start the daemon with `(--http \d+)` instead")
    shown_port = flag.split()[1]
    (steps,) = _console(section)
    where = _checkout(tmp_path)
    port = str(free_port())
    _clear_of_a_minute()  # no cron entry's job in the metrics the README shows
    daemon = Newcomer(f"jobrunner run --http {port}", where)
    ids: dict[str, str] = {}
    try:
        daemon.start()
        for step in steps:
            command = step.command.replace(f"localhost:{shown_port}", f"localhost:{port}")
            for shown, real in ids.items():
                command = command.replace(shown, real)
            deadline = time.monotonic() + 20
            while True:
                ran = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", command],
                    cwd=where,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                lines = ran.stdout.splitlines()
                if _same(lines) == _same(step.output) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # a job that has not run yet
            assert ran.returncode == 0, (step.command, ran.stderr)
            assert _same(lines) == _same(step.output), step.command
            if '"id":' in step.output[0]:
                ids[json.loads(step.output[0])["id"]] = json.loads(lines[0])["id"]
    finally:
        daemon.stop()
