"""The configuration as the daemons publish it to storage: no params, so no secrets.

`view(config)` is the `Published` record (storage/records.py) of a `Config`.
Producers (`jobrunner.Client`, `jobrunner enqueue`) read it to refuse unknown
queues and payloads that fail a queue's `payload_schema` without a copy of the
YAML; `jobrunner status` reads its generation and hash; `plan` compares two.

Access entries (`access:`) are not published: a token, or even its
reference, never reaches the storage. Their names and scopes count in the
content hash, so a change of scopes is a new generation, and `access(config)`
gives them to the plan. Webhooks (`webhooks:`) likewise: their path, queue,
scheme, headers and tolerance count in the hash and `webhooks(config)` gives
them to the plan; their secret, or its reference, is never stored. Alerts
(`alerts:`) count in the hash too, and `alerts(config)` gives them to the plan.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jobrunner.config.model import (
    Access,
    Alert,
    Config,
    Cron,
    Enqueue,
    Policy,
    Queue,
    Webhook,
    thaw,
)
from jobrunner.storage.records import Entry, Published
from jobrunner.values import duration, schedule


def view(config: Config, generation: int) -> Published:
    """The publishable form of `config`, with its content hash."""
    queues = {name: _queue(q) for name, q in sorted(config.queues.items())}
    crons = {name: _cron(c) for name, c in sorted(config.crons.items())}
    hashed: dict[str, Any] = {"queues": queues, "crons": crons}
    if config.access:  # absent, so a configuration without access keeps its hash
        hashed["access"] = {name: {"scopes": e["scopes"]} for name, e in access(config).items()}
    if config.webhooks:  # absent, so a configuration without webhooks keeps its hash
        hashed["webhooks"] = {
            name: {k: v for k, v in e.items() if k != "source"}
            for name, e in webhooks(config).items()
        }
    if config.alerts:  # absent, so a configuration without alerts keeps its hash
        hashed["alerts"] = {
            name: {k: v for k, v in e.items() if k != "source"}
            for name, e in alerts(config).items()
        }
    text = json.dumps(hashed, sort_keys=True, default=str)
    return Published(generation, _digest(text), queues, crons, tuple(sorted(config.files)))


def access(config: Config) -> dict[str, Entry]:
    """The access entries of `config` as the plan compares them: names and scopes, no token."""
    return {name: _access(entry) for name, entry in sorted(config.access.items())}


def _access(entry: Access) -> dict[str, Any]:
    return {
        "scopes": sorted(entry.scopes),
        "source": f"{entry.source.file}:{entry.source.line}",
    }


def webhooks(config: Config) -> dict[str, Entry]:
    """The webhooks of `config` as the plan compares them: everything but the secret."""
    return {name: _webhook(entry) for name, entry in sorted(config.webhooks.items())}


def _webhook(entry: Webhook) -> dict[str, Any]:
    found: dict[str, Any] = {
        "path": entry.path,
        "queue": entry.queue,
        "scheme": entry.scheme,
        "headers": list(entry.headers),
        "source": f"{entry.source.file}:{entry.source.line}",
    }
    if entry.header:
        found["header"] = entry.header
    if entry.id_header:
        found["id_header"] = entry.id_header
    if entry.scheme in ("stripe", "standard"):
        found["tolerance"] = entry.tolerance.total_seconds()
    return found


def alerts(config: Config) -> dict[str, Entry]:
    """The alerts of `config` as the plan compares them."""
    return {name: _alert(entry) for name, entry in sorted(config.alerts.items())}


def _alert(entry: Alert) -> dict[str, Any]:
    found: dict[str, Any] = {
        "events": list(entry.events),
        "queue": entry.queue,
        "throttle": entry.throttle.total_seconds(),
        "source": f"{entry.source.file}:{entry.source.line}",
    }
    if entry.queues is not None:
        found["queues"] = sorted(entry.queues)
    if entry.backlog_age is not None:
        found["backlog_age"] = entry.backlog_age.total_seconds()
    return found


def content_hash(config: Config) -> str:
    """A short hash over everything that defines the configuration (params through their hash)."""
    return view(config, 0).hash


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def params_hash(params: Any) -> str:
    """Params change detection without publishing them (they may hold secret references)."""
    return _digest(json.dumps(thaw(params), sort_keys=True, default=str))


def _policy(policy: Policy) -> dict[str, Any]:
    retry = policy.retry
    return {
        "timeout": policy.timeout.total_seconds(),
        "isolation": policy.isolation,
        "priority": policy.priority.value,
        "retry": {
            "attempts": retry.attempts,
            "backoff": retry.backoff,
            "delay": retry.delay.total_seconds(),
            "max_delay": retry.max_delay.total_seconds(),
            "jitter": retry.jitter,
        },
        "dead_retain": policy.dead_letter_retain.total_seconds(),
        "retain_completed": policy.retain_completed.total_seconds(),
        "max_deliveries": policy.max_deliveries,
        "memory_limit": policy.memory_limit,
    }


def _queue(queue: Queue) -> dict[str, Any]:
    return {
        "handler": queue.handler.plugin,
        "params_hash": params_hash(queue.handler.params),
        "source": f"{queue.source.file}:{queue.source.line}",
        "concurrency": queue.concurrency,
        "rate_limit": str(queue.rate_limit) if queue.rate_limit else None,
        "idempotency": (
            {"key": queue.idempotency.key, "ttl": queue.idempotency.ttl.total_seconds()}
            if queue.idempotency
            else None
        ),
        "payload_schema": thaw(queue.payload_schema),
        "max_payload": queue.max_payload,
        **_policy(queue.policy),
    }


def _cron(cron: Cron) -> dict[str, Any]:
    when = cron.schedule
    if isinstance(when, schedule.Cron):
        spec = {"schedule": when.expression, "timezone": when.timezone}
    elif isinstance(when, schedule.Every):
        spec = {"every": duration.format(when.interval)}
    else:
        spec = {"at": when.when.isoformat()}
    target = (
        {"queue": cron.target.queue, "payload": thaw(cron.target.payload)}
        if isinstance(cron.target, Enqueue)
        else {"handler": cron.target.plugin, "params_hash": params_hash(cron.target.params)}
    )
    return {
        **spec,
        **target,
        "source": f"{cron.source.file}:{cron.source.line}",
        "explain": schedule.explain(when),
        "overlap": cron.overlap,
        "suspend": cron.suspend,
        **_policy(cron.policy),
    }
