"""The calls of the enqueue script (lua/enqueue.lua) for a batch of jobs.

One call stores up to CHUNK jobs of one queue, atomically. A batch goes in rounds, one
per CHUNK jobs of it in order, each one call per queue among them, pipelined; the
rounds are made one at a time (`rounds` is a generator), so the storage can send a
round while the next is made. The script's keys and arguments are the wire format a
producer in another language uses (docs/wire.md):

    KEYS  the six queue keys, the listing jr:{Q}:jobs, then jr:{Q}:idem:KEY for each
          job that has an idempotency key, in order
    ARGV  prefix jr:{Q}:, delay seconds, at (epoch seconds) or '', idempotency ttl ms,
          then per job: id, message, priority, created, 1 or 0 (has a key)

Per job the work here is the message's encoding (`Job.encode`, signed when keys are
set) and a few list appends: a batch of a thousand jobs costs about as much Python as
one round trip. Every argument is passed as bytes (a queue's keys encoded once):
redis-py encodes an argument of another type itself, which was a fifth of the client's
instructions for a single enqueue.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobrunner.job import Job
from jobrunner.storage.redis.keys import encoded, listing_key, ms, prefix, queue_args
from jobrunner.storage.search import start
from jobrunner.storage.signing import Keys, seal

CHUNK = 500  # jobs per script call: long enough to amortise, short enough not to stall Redis


@dataclass(slots=True)
class Chunk:
    """One script call's keys and arguments, and where its answers go in the batch."""

    keys: list[Any]
    args: list[Any]
    places: list[int] = field(default_factory=list)


def rounds(
    jobs: Sequence[Job],
    signing: Keys | None,
    *,
    delay: float,
    at: float | None,
    idempotency_ttl: float | None,
) -> Iterator[dict[str, Chunk]]:
    """The calls that store `jobs`, a round per CHUNK of them: one chunk per queue."""
    ttl = ms(idempotency_ttl) if idempotency_ttl else 0
    when = b"" if at is None else repr(at).encode()
    head = [repr(delay).encode(), when, b"%d" % ttl]
    for first in range(0, len(jobs), CHUNK):
        chunks: dict[str, Chunk] = {}
        for place in range(first, min(first + CHUNK, len(jobs))):
            job = jobs[place]
            queue = job.queue
            chunk = chunks.get(queue)
            if chunk is None:
                p, keys = queue_args(queue)
                chunk = chunks[queue] = Chunk([*keys, encoded(listing_key(queue))], [p, *head])
            keyed = job.idempotency_key is not None and ttl > 0
            if keyed:
                chunk.keys.append(prefix(queue) + "idem:" + str(job.idempotency_key))
            body = seal(signing, job.encode())
            created = repr(start(job.created)).encode()
            chunk.args += [
                encoded(job.id),
                body,
                b"%d" % job.priority,
                created,
                b"1" if keyed else b"0",
            ]
            chunk.places.append(place)
        yield chunks
