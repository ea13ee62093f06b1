"""The systems compared, by name, in the order the tables list them."""

from __future__ import annotations

from benchmarks.compare.peers import celery, dramatiq, huey, jobrunner, rq
from benchmarks.compare.peers.base import Peer

PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        jobrunner.REDIS,
        jobrunner.SQLITE,
        dramatiq.PEER,
        huey.PROCESSES,
        huey.THREADS,
        celery.PEER,
        rq.PEER,
    )
}
