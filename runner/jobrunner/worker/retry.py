"""What happens after an attempt: done, try again later, or dead-letter. Pure.

Backoff is `delay` (fixed) or `delay * 2^(n-1)` (exponential) after the n-th
attempt, capped by `max_delay`, plus jitter: up to `jitter` of that delay
added at random, so a thousand jobs that failed together do not retry
together. `RetryLater(delay)` from a handler overrides the backoff (an HTTP
`Retry-After`) but still uses up an attempt, so nothing retries forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobrunner.config.model import RetryPolicy


class Verdict(StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Status(StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    PERMANENT = "permanent"  # the handler raised PermanentError
    RETRY_LATER = "retry_later"  # the handler raised RetryLater
    CANCELLED = "cancelled"  # an operator cancelled the job while it ran


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0
    reason: str = ""


def backoff(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """Seconds to wait after attempt number `attempt` failed; `rand` is uniform in [0, 1)."""
    base = policy.delay.total_seconds()
    if policy.backoff == "exponential":
        base *= 2 ** min(attempt - 1, 62)
    base = min(base, policy.max_delay.total_seconds())
    return base + base * policy.jitter * rand


def decide(
    status: Status, attempt: int, policy: RetryPolicy, rand: float, requested: float = 0.0
) -> Decision:
    """The verdict for a job whose attempt number `attempt` ended with `status`."""
    if status is Status.SUCCEEDED:
        return Decision(Verdict.DONE)
    if status is Status.CANCELLED:
        return Decision(Verdict.CANCELLED, reason="cancelled by an operator")
    if status is Status.PERMANENT:
        return Decision(Verdict.DEAD, reason="the handler reported a permanent error")
    if attempt >= policy.attempts:
        return Decision(
            Verdict.DEAD,
            reason=f"failed all {policy.attempts} attempt{'s' if policy.attempts > 1 else ''}",
        )
    if status is Status.RETRY_LATER:
        return Decision(Verdict.RETRY, max(0.0, requested))
    return Decision(Verdict.RETRY, backoff(policy, attempt, rand))
