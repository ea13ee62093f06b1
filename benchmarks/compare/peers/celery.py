"""Celery's prefork worker at its default concurrency (one process per CPU), Redis broker."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.compare.peers.base import Peer, script

CONCURRENCY = os.cpu_count() or 1


def workers(url: str, workdir: Path) -> list[list[str]]:
    celery = script("celery")
    return [
        [
            celery,
            "-A",
            "celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(CONCURRENCY),
            "-Q",
            "bench",
            "--loglevel",
            "WARNING",
        ]
    ]


PEER = Peer(
    "celery",
    f"celery worker --pool prefork --concurrency {CONCURRENCY}",
    "celery_app",
    workers,
    needs=("celery",),
)
