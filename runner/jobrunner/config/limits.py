"""The bounds of the size keys: a queue's `max_payload`, a policy's `memory_limit`. Pure.

Each function returns the (message, hint) of a problem, or None when the value
is fine; `build` places the problem on the key, `checks` on a cron payload.
"""

from __future__ import annotations

import json
from typing import Any

from jobrunner.job import PAYLOAD_CEILING
from jobrunner.values import size

# Below this no program gets far: a Python interpreter alone maps some 30 MiB.
MIN_MEMORY = 16 * 1024 * 1024
Issue = tuple[str, str]


def max_payload(limit: int) -> Issue | None:
    """Why a queue's `max_payload` of `limit` bytes cannot be, if it cannot."""
    if limit < 2:
        return (
            f"max_payload of {size.describe(limit)} would refuse every job, even the "
            "empty payload {} (2 bytes)",
            "remove it to use the default of 1 MiB",
        )
    if limit > PAYLOAD_CEILING:
        return (
            f"max_payload of {size.describe(limit)} is over the ceiling of "
            f"{size.describe(PAYLOAD_CEILING)}: every payload passes through the storage "
            "and the memory of the daemons",
            "store large data elsewhere and enqueue a reference to it (a URL, a path, a key)",
        )
    return None


def memory_limit(limit: int) -> Issue | None:
    """Why a `memory_limit` of `limit` bytes cannot be, if it cannot."""
    if limit < MIN_MEMORY:
        return (
            f"memory_limit of {size.describe(limit)} is below {size.format(MIN_MEMORY)}: "
            "no handler could start under it",
            "an isolated Python handler needs about 30 MiB before it runs; give 64MiB or more",
        )
    return None


def payload(data: Any, limit: int, queue: str) -> Issue | None:
    """Why a cron entry's `payload` is refused by the queue's `max_payload`, if it is.

    Measured as `jobrunner.Client` measures what it enqueues: the bytes of its JSON.
    """
    length = len(json.dumps(data).encode())
    if length <= limit:
        return None
    return (
        f"payload is {size.describe(length)} as JSON; queue '{queue}' takes at most "
        f"{size.describe(limit)} (max_payload)",
        f"raise max_payload on queue '{queue}', or make the payload smaller",
    )
