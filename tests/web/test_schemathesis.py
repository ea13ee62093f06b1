"""Schemathesis fuzzes the API of a live web-role daemon from its own OpenAPI document: no
answer is a 5xx, and every answer (errors included) matches the document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_api import web  # noqa: F401  (the fixture: a worker and a web daemon)

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    )
)


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(
    web: tuple[int, Path],  # noqa: F811
) -> None:
    port, tmp = web
    st = Path(sys.executable).parent / "st"  # schemathesis's command, from the test extras
    run = subprocess.run(
        [
            str(st),
            "run",
            f"http://127.0.0.1:{port}/api/v1/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--no-color",
            "--report-dir",
            str(tmp / "schemathesis"),
        ],
        cwd=tmp,  # its cache goes there, not into the checkout
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failures" not in run.stdout.lower(), run.stdout[-3000:]
