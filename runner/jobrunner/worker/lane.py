"""Lanes: what workers serve. A lane is a configured queue, or a cron entry that
runs its own handler (it gets a lane of its own, named after it, so its runs
get the same leases, retries, dead-letter queue and logs as queue jobs).

Names are unique across queues and cron entries, so lane names never clash.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobrunner.config.model import Config, Handler, Policy, Source
from jobrunner.values.rate import RateLimit


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    handler: Handler
    policy: Policy
    source: Source
    concurrency: int = 1
    rate_limit: RateLimit | None = None


def lanes(config: Config) -> dict[str, Lane]:
    """Every lane of `config`, by name."""
    found = {
        name: Lane(name, q.handler, q.policy, q.source, q.concurrency, q.rate_limit)
        for name, q in config.queues.items()
    }
    for name, cron in config.crons.items():
        if isinstance(cron.target, Handler):
            found[name] = Lane(name, cron.target, cron.policy, cron.source)
    return found
