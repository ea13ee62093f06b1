"""Golden files for `jobrunner validate`: the exact text an operator sees, rule by rule.

`corpus/good/` holds valid files, each exercising different features; each
validates alone, and all of them together (so their names are unique).

`corpus/bad/NAME.yaml` holds one mistake (`many-errors.yaml` several), and
`NAME.golden` the exact stdout of `jobrunner validate NAME.yaml` run from
`corpus/bad/`, then a line `exit: N`. A directory under `bad/` is one case
too, validated as a whole (`dup-names/` → `dup-names.golden`). The goldens
assume that only the built-in plugins are installed.

After a deliberate change of wording, rewrite the goldens with

    JOBRUNNER_UPDATE_GOLDEN=1 python -m pytest tests/config/test_corpus.py

then read every changed line of `git diff tests/corpus` before committing:
the position must point at the right token, the path must be the one inside
the document, and the message must say what was found and what was expected.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from jobrunner.parse import document

CORPUS = ROOT / "tests" / "corpus"
GOOD = CORPUS / "good"
BAD = CORPUS / "bad"
UPDATE = os.environ.get("JOBRUNNER_UPDATE_GOLDEN") == "1"

GOOD_FILES = sorted(p for p in GOOD.rglob("*") if p.suffix in (".yaml", ".yml"))
BAD_CASES = sorted(
    [p.name for p in BAD.glob("*.yaml")] + [p.name for p in BAD.iterdir() if p.is_dir()]
)


def validate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`jobrunner validate ARGS…`; no run may ever end in a traceback."""
    result = run_cli("validate", *args, cwd=cwd)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def validate_all(
    cases: Sequence[str], cwd: Path, *extra: str
) -> dict[str, subprocess.CompletedProcess[str]]:
    """`validate CASE EXTRA…` for every case, a few processes at a time."""

    def run(case: str) -> subprocess.CompletedProcess[str]:
        return validate(case, *extra, cwd=cwd)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(cases, pool.map(run, cases), strict=True))


@pytest.fixture(scope="module")
def good_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    return validate_all([str(p.relative_to(GOOD)) for p in GOOD_FILES], GOOD, "--strict")


@pytest.fixture(scope="module")
def bad_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    return validate_all(BAD_CASES, BAD)


def golden_path(case: str) -> Path:
    return BAD / f"{case.removesuffix('.yaml')}.golden"


def test_corpus_is_large_enough() -> None:
    assert len(GOOD_FILES) >= 12
    assert len(BAD_CASES) >= 45


@pytest.mark.parametrize("name", [str(p.relative_to(GOOD)) for p in GOOD_FILES])
def test_good_file_validates_alone(
    name: str, good_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = good_runs[name]
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
    assert result.stderr.startswith("ok: 1 file, ")


def test_good_files_validate_together() -> None:
    result = validate(".", "--strict", cwd=GOOD)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
    assert result.stderr.startswith(f"ok: {len(GOOD_FILES)} files, ")


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_case_matches_golden(
    case: str, bad_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = bad_runs[case]
    actual = f"{result.stdout}exit: {result.returncode}\n"
    golden = golden_path(case)
    if UPDATE:
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no golden for {case}: run with JOBRUNNER_UPDATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")
    assert result.returncode in (0, 1)
    if result.returncode == 0:  # warnings only: they fail under --strict
        assert " warning: " in result.stdout
        assert validate(case, "--strict", cwd=BAD).returncode == 1


def test_every_golden_has_a_case() -> None:
    orphans = {p.name for p in BAD.glob("*.golden")} - {golden_path(c).name for c in BAD_CASES}
    assert not orphans, f"goldens without a case: {sorted(orphans)}"


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    padding = "# " + "x" * 98 + "\n"
    big.write_text("version: 1\n" + padding * (document.MAX_FILE_BYTES // len(padding) + 1))
    size = big.stat().st_size
    result = validate("big.yaml", cwd=tmp_path)
    assert result.stdout == (
        f"big.yaml:1:1: error: file is {size:,} bytes, over the limit of 1,048,576 bytes "
        "[file-too-large]\n"
        "    hint: split the definitions into several files under the jobs directory\n"
    )
    assert result.returncode == 1


def test_alias_bomb_fails_fast() -> None:
    started = time.perf_counter()
    doc = document.parse("alias-bomb.yaml", (BAD / "alias-bomb.yaml").read_bytes())
    assert time.perf_counter() - started < 2
    assert [p.code for p in doc.problems] == ["yaml-alias"]


def test_json_format_has_every_field() -> None:
    result = validate("many-errors.yaml", "--format", "json", cwd=BAD)
    assert result.returncode == 1
    problems = json.loads(result.stdout)
    assert len(problems) == 6
    fields = {"file", "line", "column", "path", "severity", "code", "message", "hint"}
    assert all(set(p) == fields for p in problems)
    assert problems[0] == {
        "file": "many-errors.yaml",
        "line": 3,
        "column": 3,
        "path": "queues.Mails",
        "severity": "error",
        "code": "name",
        "message": "invalid name 'Mails': it has uppercase letters; expected a name of 1 to 63 "
        "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        "hint": "rename it to 'mails'",
    }
    assert [(p["line"], p["column"]) for p in problems] == sorted(
        (p["line"], p["column"]) for p in problems
    )


def test_github_format_annotates_lines() -> None:
    result = validate("many-errors.yaml", "overlap-allow.yaml", "--format", "github", cwd=BAD)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    shape = re.compile(r"^::(error|warning) file=[^,:]+,line=\d+,col=\d+,title=[^,:]+::\S.*$")
    assert all(shape.match(line) for line in lines), lines
    assert lines[0].startswith("::error file=many-errors.yaml,line=3,col=3,title=name::")
    assert lines[-1].startswith("::warning file=overlap-allow.yaml,line=5,col=14,title=overlap::")
    assert "%0A" in lines[-1]  # the hint, on its own line of the annotation


def test_path_that_does_not_exist_is_a_usage_error() -> None:
    result = validate("no-such-dir", cwd=BAD)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no-such-dir: no such file or directory" in result.stderr
