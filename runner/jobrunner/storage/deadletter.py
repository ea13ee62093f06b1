"""Walking the dead-letter queue for bulk operations (`dlq replay|purge`, the API's), and the
filter that picks a set of dead jobs: by what killed them and when they died."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jobrunner.job import Record
from jobrunner.storage.base import Storage

BATCH = 500  # dead jobs read per round trip


@dataclass(frozen=True, slots=True)
class DeadFilter:
    """Which dead jobs: all of them when nothing is set."""

    error: str | None = None  # in why it died, or its last error's type or message (any case)
    since: float | None = None  # died at or after (epoch seconds)
    until: float | None = None  # died before (epoch seconds)

    def __bool__(self) -> bool:
        return (self.error, self.since, self.until) != (None, None, None)

    def admits(self, record: Record) -> bool:
        if self.since is not None and record.updated < self.since:
            return False
        if self.until is not None and record.updated >= self.until:
            return False
        if self.error is None:
            return True
        last = record.attempts[-1] if record.attempts else None
        said = (record.reason, last.error_type, last.error) if last else (record.reason,)
        return any(self.error.casefold() in text.casefold() for text in said)


def each_dead(
    storage: Storage, queue: str | None, only: DeadFilter = DeadFilter(), *, removes: bool = True
) -> Iterator[Record]:
    """Every dead job of `queue` (None: of every queue) that `only` admits, oldest first.

    When the caller `removes` each job it is given (replays or purges it), the job leaves
    the dead list and the next read brings new ones; the jobs that stay (passed over by
    the filter, or kept by a caller that only looks) make each read look that much
    further. None is yielded twice.
    """
    seen: set[str] = set()
    stays = 0  # jobs still at the head of the list
    while True:
        batch = [r for r in storage.dead(queue, stays + BATCH) if r.job.id not in seen]
        if not batch:
            return
        for record in batch:
            seen.add(record.job.id)
            admitted = only.admits(record)
            stays += not (admitted and removes)
            if admitted:
                yield record
