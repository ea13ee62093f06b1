"""What a job must pass before a client stores it: a JSON payload within the queue's
`max_payload`, a time to run, a priority and an idempotency key; each refusal an
`EnqueueError` that says what was wrong and what to do. (The `payload_schema` check is
the client's: it keeps a compiled validator per queue of the configuration in force.)"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from jobrunner.client.errors import EnqueueError
from jobrunner.job import MAX_PAYLOAD, PRIORITY_RANK
from jobrunner.values import size, suggest, template

_STRICT = json.JSONEncoder(allow_nan=False)  # `json.dumps(allow_nan=False)`, made once
# An explicit key on a queue without an `idempotency` policy is remembered this long.
DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0
MAX_SCHEMA_ERRORS = 5


def payload_json(queue: str, payload: Any, policy: Mapping[str, Any]) -> Any:
    """The payload as the worker will see it (tuples become lists, …), or refused."""
    try:
        text = _STRICT.encode(payload)
    except (TypeError, ValueError) as exc:
        raise EnqueueError(
            f"payload for queue '{queue}' is not JSON-serialisable: {exc} "
            "(use dicts, lists, strings, numbers, booleans and None)"
        ) from None
    except RecursionError:
        raise EnqueueError(f"payload for queue '{queue}' is nested too deeply") from None
    length, limit = len(text.encode()), max_payload(policy)
    if length > limit:
        where = policy.get("source", "jobs.d")
        advice = "store large data elsewhere and enqueue a reference to it (a URL, a path, a key)"
        if limit == MAX_PAYLOAD:
            raise EnqueueError(
                f"payload for queue '{queue}' is {length:,} bytes, over the limit of "
                f"{size.describe(limit)}: {advice}, or raise the queue's max_payload ({where})"
            )
        raise EnqueueError(
            f"payload for queue '{queue}' is {length:,} bytes, over the queue's max_payload "
            f"of {size.describe(limit)}, set in {where}: {advice}"
        )
    return json.loads(text)


def max_payload(policy: Mapping[str, Any]) -> int:
    """The queue's `max_payload`; the default when a daemon of an older version published
    none (or a stray writer garbage)."""
    limit = policy.get("max_payload")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return limit
    return MAX_PAYLOAD


def schema_path(parts: Any) -> str:
    """Where in the payload a schema error is, as code would write it: payload.items[0]."""
    text = "payload"
    for part in parts:
        is_name = isinstance(part, str) and part.isidentifier()
        text += f".{part}" if is_name else f"[{part!r}]"
    return text


def to_seconds(value: float | timedelta, name: str) -> float:
    """Seconds or a timedelta, as seconds; `name` (delay, at) says which in a refusal."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise EnqueueError(f"{name} must be seconds or a timedelta, found {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise EnqueueError(f"{name} must be zero or more seconds, found {value!r}")
    return seconds


def when(
    delay: float | timedelta | None, at: datetime | float | None
) -> tuple[float, float | None]:
    """(delay in seconds, absolute epoch seconds or None)."""
    if delay is not None and at is not None:
        raise EnqueueError("give either delay or at, not both")
    if at is None:
        return (to_seconds(delay, "delay") if delay is not None else 0.0), None
    if isinstance(at, datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise EnqueueError(
                f"at={at.isoformat()} has no time zone: pass an aware datetime, "
                "e.g. datetime.now(UTC) + timedelta(hours=1), so every host agrees"
            )
        return 0.0, at.timestamp()
    return 0.0, to_seconds(at, "at")


def priority_rank(priority: str | None, policy: Mapping[str, Any]) -> int:
    """The rank of `priority` (a name), the queue's own when None."""
    name = priority if priority is not None else policy.get("priority", "normal")
    if isinstance(name, str) and name in PRIORITY_RANK:
        return PRIORITY_RANK[name]
    hint = suggest.did_you_mean(name, PRIORITY_RANK) if isinstance(name, str) else ""
    raise EnqueueError(
        f"invalid priority {name!r}{hint}: expected one of {', '.join(PRIORITY_RANK)}"
    )


def idempotency(
    queue: str, policy: Mapping[str, Any], payload: Any, key: str | None
) -> tuple[str | None, float | None]:
    """(key, ttl): the explicit key, else the queue's template rendered over the payload."""
    rule = policy.get("idempotency")
    ttl = float(rule["ttl"]) if rule else DEFAULT_IDEMPOTENCY_TTL
    if key is not None:
        if not isinstance(key, str) or not key:
            raise EnqueueError(f"idempotency_key must be a non-empty string, found {key!r}")
        return key, ttl
    if not rule:
        return None, None
    try:
        return template.render(rule["key"], payload), ttl
    except KeyError as exc:
        raise EnqueueError(
            f"queue '{queue}' derives its idempotency key from '{rule['key']}', "
            f"but the {exc.args[0]}: add it to the payload or pass idempotency_key"
        ) from None
