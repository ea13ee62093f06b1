"""RQ: two `rq worker` processes of the SimpleWorker class (no fork per job)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare.peers.base import Peer, script


def workers(url: str, workdir: Path) -> list[list[str]]:
    rq = script("rq")
    one = [rq, "worker", "--worker-class", "rq.worker.SimpleWorker", "--url", url, "-q", "bench"]
    return [one, one]


PEER = Peer("rq", "2 x rq worker --worker-class SimpleWorker", "rq_app", workers, needs=("rq",))
