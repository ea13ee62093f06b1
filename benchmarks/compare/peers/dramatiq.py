"""Dramatiq's default worker: 2 processes of 8 threads, RedisBroker."""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare.peers.base import Peer, script


def workers(url: str, workdir: Path) -> list[list[str]]:
    dramatiq = script("dramatiq")
    return [[dramatiq, "dramatiq_app", "--processes", "2", "--threads", "8"]]


PEER = Peer(
    "dramatiq",
    "dramatiq, 2 processes x 8 threads, RedisBroker",
    "dramatiq_app",
    workers,
    needs=("dramatiq",),
)
