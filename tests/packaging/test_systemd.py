"""packaging/systemd: the unit says what docs/deploy.md promises, and systemd accepts it."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from jobrunner.cli.run import run
from jobrunner.values import duration
from jobrunner.web import address

SYSTEMD = Path(__file__).resolve().parents[2] / "packaging" / "systemd"
UNIT = SYSTEMD / "jobrunner.service"
WEB = SYSTEMD / "jobrunner-web.service"
UNITS = [UNIT, WEB]
SETTING = re.compile(r"^([A-Za-z][A-Za-z0-9]*)=(.*)$")


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value given (Environment= appears many times)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif match := SETTING.match(line):
            sections[section][match[1]].append(match[2])
    return sections


def uncommented(path: Path) -> list[str]:
    """Settings with no comment above them in their paragraph (every setting needs one)."""
    missing, explained = [], False
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("["):
            explained = False
        elif line.startswith(("#", ";")):
            explained = True
        elif not explained:
            missing.append(line)
    return missing


def environment(values: list[str]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in values)


RUN_VARIABLES = {p.envvar for p in run.params if isinstance(p.envvar, str)}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_setting_says_why(unit: Path) -> None:
    assert uncommented(unit) == []


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_ready_watchdog_and_reload_follow_the_daemon_contract(unit: Path) -> None:
    service = parse(unit)["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]  # job commands inherit $NOTIFY_SOCKET
    assert service["WatchdogSec"] == ["30"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]


def test_the_main_unit_takes_its_role_from_the_environment() -> None:
    assert parse(UNIT)["Service"]["ExecStart"] == ["/usr/bin/env jobrunner run"]


def test_the_web_unit_runs_the_web_role_on_loopback() -> None:
    service = parse(WEB)["Service"]
    # On the command line, so a JOBRUNNER_ROLE in the shared env file cannot change it.
    assert service["ExecStart"] == ["/usr/bin/env jobrunner run --role web"]
    where = address.parse(environment(service["Environment"])["JOBRUNNER_HTTP"])
    assert where.loopback  # open routes without access entries: this host only
    assert str(where) == "127.0.0.1:8080"
    assert int(service["TimeoutStopSec"][0]) > 0
    assert service["SyslogIdentifier"] == ["jobrunner-web"]


# What may differ between the two units; everything else is the same, hardening included.
WEB_OWN = {"ExecStart", "Environment", "TimeoutStopSec", "SyslogIdentifier"}


def test_the_web_unit_mirrors_the_main_unit() -> None:
    main, web = parse(UNIT), parse(WEB)
    assert set(main) == set(web)
    for section in main:
        own = WEB_OWN if section == "Service" else {"Description"}
        mirrored = {k: v for k, v in main[section].items() if k not in own}
        assert {k: v for k, v in web[section].items() if k not in own} == mirrored, section
    shared = environment(main["Service"]["Environment"])
    web_env = environment(web["Service"]["Environment"])
    assert set(web_env) <= RUN_VARIABLES
    for name in ("JOBRUNNER_JOBS_DIR", "JOBRUNNER_STORAGE", "JOBRUNNER_LOG_FORMAT"):
        assert web_env[name] == shared[name], name  # the same job files and storage


def test_stopping_leaves_the_jobs_their_grace() -> None:
    service = parse(UNIT)["Service"]
    grace = duration.parse(environment(service["Environment"])["JOBRUNNER_GRACE"])
    assert service["KillSignal"] == ["SIGTERM"]
    # Only the daemon gets SIGTERM: it decides when the job commands (its children) stop.
    assert service["KillMode"] == ["mixed"]
    assert int(service["TimeoutStopSec"][0]) > grace.total_seconds()


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_state_and_configuration_live_where_the_environment_points(unit: Path) -> None:
    service = parse(unit)["Service"]
    env = environment(service["Environment"])
    assert set(env) <= RUN_VARIABLES
    assert env["JOBRUNNER_STORAGE"] == "sqlite:////var/lib/jobrunner/state.db"
    assert service["StateDirectory"] == ["jobrunner"]
    assert service["WorkingDirectory"] == ["/var/lib/jobrunner"]
    assert env["JOBRUNNER_JOBS_DIR"].startswith("/etc/jobrunner/")
    assert service["ConfigurationDirectory"] == ["jobrunner"]
    assert service["EnvironmentFile"] == ["-/etc/jobrunner/jobrunner.env"]
    assert service["User"] == service["Group"] == ["jobrunner"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_hardening(unit: Path) -> None:
    service = parse(unit)["Service"]
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/jobrunner",
    }
    assert {key: service[key] for key in expected} == {k: [v] for k, v in expected.items()}


def test_the_env_file_names_only_real_options() -> None:
    text = (SYSTEMD / "jobrunner.env").read_text()
    named = set(re.findall(r"^#?(JOBRUNNER_[A-Z_]+)=", text, re.MULTILINE))
    assert named <= RUN_VARIABLES
    assert {"JOBRUNNER_STORAGE", "JOBRUNNER_GRACE", "JOBRUNNER_ROLE"} <= named
    # Both units read the file: an address here would override each unit's own.
    assert "JOBRUNNER_HTTP" not in named
    for line in text.splitlines():  # systemd's EnvironmentFile= syntax, not a shell's
        assert not line or line.startswith("#") or SETTING.match(line), line


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown keys and bad values, but names the unit file when it
    # ignores a line; other units' complaints are not ours.
    complaints = [line for line in result.stderr.splitlines() if "jobrunner" in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []


@pytest.mark.skipif(
    not shutil.which("systemd-sysusers"), reason="systemd-sysusers is not installed"
)
def test_systemd_creates_the_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [
            "systemd-sysusers",
            f"--root={tmp_path}",
            "--dry-run",
            str(SYSTEMD / "jobrunner.sysusers"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Creating user 'jobrunner'" in result.stderr + result.stdout
