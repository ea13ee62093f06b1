"""`jobrunner --help` and `--version` start without the heavy modules.

cli/__init__.py imports every subcommand's module; each imports what its command needs
inside the command. A module-level import of the loader or a storage client in any of
them costs every invocation (and every worker process a daemon starts) its import time:
`trigger` importing the scheduler at module level cost 0.14 s of 0.34 s.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "yaml",
    "huey",
    "redis",
    "sqlite3",
    "jsonschema",
    "jsonschema_rs",
    "prometheus_client",
    "cronsim",
    "fastapi",
    "jobrunner.config.load",
    "jobrunner.scheduler.loop",
    "jobrunner.daemon.process",
]


def test_importing_the_cli_imports_no_heavy_module() -> None:
    probe = (
        "import json, sys, jobrunner.cli; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == []
