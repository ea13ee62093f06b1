"""Walking the dead-letter queue for bulk operations (`dlq replay --queue`, the API's replay)."""

from __future__ import annotations

from collections.abc import Iterator

from jobrunner.storage.base import Storage

BATCH = 500  # dead jobs read per round trip


def each_dead(storage: Storage, queue: str | None) -> Iterator[tuple[str, str]]:
    """(id, queue) of every dead job of `queue` (None: of every queue), oldest first.

    Safe to act on while walking: a job replayed or purged leaves the dead list, so each
    batch brings new ones, and none is yielded twice.
    """
    seen: set[str] = set()
    while True:
        batch = [r for r in storage.dead(queue, BATCH) if r.job.id not in seen]
        if not batch:
            return
        for record in batch:
            seen.add(record.job.id)
            yield record.job.id, record.job.queue
