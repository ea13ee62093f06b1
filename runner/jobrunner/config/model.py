"""The configuration as the rest of the program sees it: frozen, typed, defaults applied.

Nothing downstream of the loader reads YAML or a raw mapping of options; it
reads these records. Handler params and payloads stay JSON-like data, since
each plugin owns their shape, but they are read-only views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from jobrunner.job import DEAD_LETTER_RETAIN, MAX_DELIVERIES, MAX_PAYLOAD
from jobrunner.values.rate import RateLimit
from jobrunner.values.refs import Ref
from jobrunner.values.schedule import Schedule

EMPTY: Mapping[str, Any] = MappingProxyType({})


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # every try, the first included
    backoff: str = "exponential"  # "fixed" | "exponential"
    delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)
    jitter: float = 0.5  # fraction of the delay added at random


@dataclass(frozen=True, slots=True)
class Policy:
    """How each attempt of a job runs; set per entry, per file (`defaults:`) or built in."""

    timeout: timedelta = timedelta(minutes=10)
    isolation: str = "thread"  # "thread" | "process"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: Priority = Priority.NORMAL
    dead_letter_retain: timedelta = DEAD_LETTER_RETAIN
    retain_completed: timedelta = timedelta(hours=1)
    max_deliveries: int = MAX_DELIVERIES
    memory_limit: int | None = None  # bytes of address space of a child process (RLIMIT_AS)


@dataclass(frozen=True, slots=True)
class Source:
    """Where an entry was defined: reported in diagnostics and recorded with every run."""

    file: str
    line: int
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Handler:
    plugin: str
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Idempotency:
    key: str  # a template over payload fields, like "{to}:{template}"
    ttl: timedelta


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    handler: Handler
    source: Source
    policy: Policy = field(default_factory=Policy)
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    concurrency: int = 1
    rate_limit: RateLimit | None = None
    idempotency: Idempotency | None = None
    payload_schema: Mapping[str, Any] | None = None
    max_payload: int = MAX_PAYLOAD  # bytes of JSON in one payload, checked at enqueue


@dataclass(frozen=True, slots=True)
class Enqueue:
    """A cron target that enqueues `payload` into the named queue."""

    queue: str
    payload: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Cron:
    name: str
    schedule: Schedule
    target: Handler | Enqueue
    source: Source
    policy: Policy = field(default_factory=Policy)
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    overlap: str = "forbid"  # "forbid" | "allow"
    starting_deadline: timedelta = timedelta(minutes=10)
    jitter: timedelta = timedelta(0)
    suspend: bool = False


@dataclass(frozen=True, slots=True)
class Access:
    """A bearer token of the HTTP API and what it may do (config/access.py resolves it).

    `token` is the reference as written (`${env:NAME}` or `${file:/path}`),
    never the token: it is resolved when a request is checked. It is left out
    of `repr`, so that logging an entry shows neither.
    """

    name: str
    token: Ref = field(repr=False)
    scopes: frozenset[str]  # "read", "operate", "enqueue" (every queue), "enqueue:QUEUE"
    source: Source
    description: str = ""

    def allows(self, scope: str) -> bool:
        """Whether the token may do `scope`: `read`, `operate` or `enqueue:QUEUE`."""
        return scope in self.scopes or (scope.startswith("enqueue:") and "enqueue" in self.scopes)


@dataclass(frozen=True, slots=True)
class Webhook:
    """A path of the HTTP server that turns signed deliveries into jobs (web/webhooks.py).

    `secret` is the reference as written, never the secret, and is left out of
    `repr`. `max_body` is the queue's `max_payload`, set when the files are
    assembled (config/load.py).
    """

    name: str
    path: str  # "/hooks/…"
    queue: str
    scheme: str  # "github" | "stripe" | "standard" | "hmac"
    secret: Ref = field(repr=False)
    source: Source
    headers: tuple[str, ...] = ()  # request headers copied into the payload
    header: str = ""  # hmac: the header holding the signature
    id_header: str = ""  # hmac: the header holding the delivery id (optional)
    tolerance: timedelta = timedelta(minutes=5)  # stripe, standard: timestamp tolerance
    description: str = ""
    max_body: int = MAX_PAYLOAD


@dataclass(frozen=True, slots=True)
class Alert:
    """Events routed into a queue, whose handler posts, pages or mails (runner/jobrunner/alerts/).

    `events` are names of config/alerts.py's `EVENTS`. `queues` narrows the
    events about a queue (`job.dead`, `queue.backlog`) to those queues; None
    takes every queue. `throttle` (0: none) allows one alert job per event
    kind and subject in that time; `backlog_age` is the threshold of
    `queue.backlog`, and is set exactly when that event is routed.
    """

    name: str
    events: tuple[str, ...]
    queue: str
    source: Source
    queues: frozenset[str] | None = None
    throttle: timedelta = timedelta(minutes=5)
    backlog_age: timedelta | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    queues: Mapping[str, Queue] = field(default_factory=lambda: EMPTY)
    crons: Mapping[str, Cron] = field(default_factory=lambda: EMPTY)
    files: tuple[str, ...] = ()
    access: Mapping[str, Access] = field(default_factory=lambda: EMPTY)
    webhooks: Mapping[str, Webhook] = field(default_factory=lambda: EMPTY)
    alerts: Mapping[str, Alert] = field(default_factory=lambda: EMPTY)


# The leaves of JSON-like data, and the mappings it is made of: checked for before the
# abstract `Mapping`, whose isinstance check is several times slower.
_SCALARS = (str, int, float, type(None))
_MAPPINGS = (dict, MappingProxyType, Mapping)


def freeze(value: Any) -> Any:
    """A read-only deep copy of JSON-like data (mappings become read-only views)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, _MAPPINGS):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple([freeze(v) for v in value])
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for JSON encoders and schema validators."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, _MAPPINGS):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
