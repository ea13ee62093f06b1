"""The architecture contract (pyproject.toml, docs/architecture.md) holds, and it has teeth:
a copy of the package with one import that breaks a layer, or closes a cycle, fails it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

LINT = Path(sys.executable).parent / "lint-imports"


def lint(top: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the source roots under `top`, with no cache."""
    path = os.pathsep.join(str(top / root) for root in ("runner", "plugins"))
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=top,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the project's sources and contract, with `line` appended to `module`."""
    for name in ("runner", "plugins"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    root = "plugins" if module.startswith("jobrunner_plugins") else "runner"
    target = tmp_path / root / Path(*module.split(".")).with_suffix(".py")
    target.write_text(target.read_text() + f"\n{line}\n")
    return tmp_path


def test_the_tree_keeps_the_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the model (config) reaching up into a reporter of the CLI
        ("jobrunner.config.model", "from jobrunner.cli import report", "Stages import downwards"),
        # a worker reaching into the scheduler: siblings stay independent
        ("jobrunner.worker.pool", "from jobrunner.scheduler import ticks", "Stages import"),
        # the shared vocabulary reaching into the runtime
        ("jobrunner.job", "from jobrunner.worker import retry", "shared vocabulary"),
        # a built-in plugin using the config internals instead of the plugin API
        ("jobrunner_plugins.shell", "from jobrunner.config import model", "public plugin API"),
        # upkeep reading the daemon that owns it: the cycle this layout removed
        ("jobrunner.daemon.upkeep", "from jobrunner.daemon import process", "No import cycles"),
    ],
)
def test_a_broken_layer_fails_the_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    result = lint(copy_with(tmp_path, module, line))
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout.split("Broken contracts", 1)[1]
