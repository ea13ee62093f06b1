"""Raw Huey (RedisHuey): the consumer with 2 worker processes, or with 4 worker threads."""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare.peers.base import Peer, script


def consumer(kind: str, count: int) -> Peer:
    def workers(url: str, workdir: Path) -> list[list[str]]:
        binary = script("huey_consumer")
        return [[binary, "huey_app.huey", "-k", kind, "-w", str(count), "-q"]]

    name = "huey" if kind == "process" else "huey-threads"
    return Peer(name, f"huey_consumer -k {kind} -w {count}, RedisHuey", "huey_app", workers)


PROCESSES = consumer("process", 2)
THREADS = consumer("thread", 4)
