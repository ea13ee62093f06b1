"""What a client refuses, and says why."""

from __future__ import annotations


class EnqueueError(ValueError):
    """A job the configuration refuses (unknown queue, bad payload, bad option), or the
    pause of a queue it does not have."""


class BatchRefused(EnqueueError):
    """A payload of a batch refused, so none of the batch was stored; `index` says which
    (counting from 0) and `reason` why, as `enqueue` would say it."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"payload {index} of the batch (counting from 0): {reason}")
        self.index, self.reason = index, reason


class UnknownJob(EnqueueError):
    """No job has this id (or its record expired)."""
