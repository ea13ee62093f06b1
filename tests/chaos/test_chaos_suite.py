"""The chaos suite at a small size, on both backends (tests/chaos/chaos.py has the full one).

JOBRUNNER_CHAOS=full runs the acceptance size: 10,000 jobs, 4 daemons, 20 SIGKILLs, 3 SIGSTOPs
past the lease, 2 Redis restarts and 5 edits of jobs.d (2 daemons on SQLite).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos import Run, Size

FULL = os.environ.get("JOBRUNNER_CHAOS") == "full"


@pytest.mark.timeout(1800 if FULL else 240)
@pytest.mark.parametrize("storage", ["redis", "sqlite"])
def test_the_books_balance_after_kills_pauses_restarts_and_edits(
    storage: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent / "apps"))
    if FULL:
        size = Size(jobs=10_000, daemons=4 if storage == "redis" else 2, kills=20, stops=3)
        size.restarts, size.edits = 2, 5
    else:
        size = Size(jobs=300, daemons=2, kills=3, stops=1, restarts=1, edits=2)
    books = Run(storage, size, tmp_path).run()
    with capsys.disabled():
        print("\n" + books.summary())
    assert books.balanced, books
