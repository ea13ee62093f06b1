"""The JSON Schema of a job file, version 1, built from the code.

`structure()` is what `validate` checks shape against: handler `params` are
left open there, because each plugin checks its own. `published(plugins)`
adds, for editors, each installed plugin's params schema, the "exactly one
of" rules, the forms of access tokens and scopes, those of webhook paths,
schemes and secrets, and the names of alert events; `schemas/jobfile.v1.json`
is that document for the built-in plugins (a test keeps it in sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobrunner.config import access, alerts, webhooks
from jobrunner.job import DEAD_LETTER_RETAIN, MAX_PAYLOAD
from jobrunner.values import duration, names, rate, size

SCHEMA_ID = "urn:jobrunner:schema:jobfile:v1"
PRIORITIES = ["critical", "high", "normal", "low"]

_DURATION = {"$ref": "#/$defs/duration"}
_SIZE = {"$ref": "#/$defs/size"}
_STRING = {"type": "string"}
_JSON_OBJECT = {"type": "object"}

POLICY_KEYS = {
    "timeout": {**_DURATION, "description": "an attempt running longer fails (default 10m)"},
    "isolation": {
        "enum": ["thread", "process"],
        "description": "process: run python handlers in a child killed at the timeout",
    },
    "retry": {"$ref": "#/$defs/retry"},
    "priority": {"enum": PRIORITIES, "description": "order within a queue (default normal)"},
    "dead_letter": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"retain": {**_DURATION, "description": "how long dead jobs are kept"}},
        "description": "where jobs go after their last attempt "
        f"(default retain {duration.format(DEAD_LETTER_RETAIN)})",
    },
    "retain_completed": {**_DURATION, "description": "how long finished jobs are kept (1h)"},
    "max_deliveries": {
        "type": "integer",
        "minimum": 1,
        "description": "deliveries without an ack before the dead-letter queue (5)",
    },
    "memory_limit": {
        **_SIZE,
        "description": "address space of the handler's child process (isolation: process) "
        "or command (shell); default none",
    },
}
CRON_DEFAULT_KEYS = {
    "timezone": {**_STRING, "description": "IANA time zone of the schedule (default UTC)"},
    "overlap": {
        "enum": ["forbid", "allow"],
        "description": "forbid: skip a tick while the previous run is queued or running",
    },
    "starting_deadline": {
        **_DURATION,
        "description": "after downtime, run a missed tick younger than this once; 0: never",
    },
    "jitter": {**_DURATION, "description": "random delay up to this before each run"},
}
COMMON_KEYS = {
    "description": {**_STRING, "description": "what this entry is for"},
    "labels": {"type": "object", "additionalProperties": _STRING},
}
QUEUE_KEYS = {
    **COMMON_KEYS,
    "handler": {**_STRING, "description": "plugin that runs the jobs: shell, http, python, …"},
    "params": {**_JSON_OBJECT, "description": "the plugin's options"},
    "payload_schema": {
        **_JSON_OBJECT,
        "description": "JSON Schema (2020-12) every payload must satisfy at enqueue",
    },
    "max_payload": {
        **_SIZE,
        "description": f"largest payload (as JSON) accepted at enqueue "
        f"(default {size.format(MAX_PAYLOAD)})",
    },
    "concurrency": {"type": "integer", "minimum": 1, "description": "jobs at once per daemon"},
    "rate_limit": {
        "type": "string",
        "pattern": rate.PATTERN,
        "patternErrorMessage": f"expected {rate.EXPECTED}",
        "description": "at most N starts per s|m|h|d, across all daemons",
    },
    "idempotency": {
        "type": "object",
        "additionalProperties": False,
        "required": ["key"],
        "properties": {
            "key": {**_STRING, "minLength": 1, "description": "template over payload fields"},
            "ttl": {**_DURATION, "description": "how long a key is remembered (default 24h)"},
        },
    },
    **POLICY_KEYS,
}
CRON_KEYS = {
    **COMMON_KEYS,
    "schedule": {**_STRING, "description": "cron: 5 fields, 6 with seconds first, or @daily…"},
    "every": {**_DURATION, "description": "fixed interval aligned to the Unix epoch"},
    "at": {**_STRING, "description": "one-shot RFC 3339 time with offset"},
    "handler": QUEUE_KEYS["handler"],
    "params": QUEUE_KEYS["params"],
    "queue": {**_STRING, "description": "enqueue into this queue instead of running a handler"},
    "payload": {**_JSON_OBJECT, "description": "payload enqueued into `queue`"},
    **CRON_DEFAULT_KEYS,
    "suspend": {"type": "boolean", "description": "stop firing without removing the entry"},
    **POLICY_KEYS,
}

ACCESS_KEYS: dict[str, dict[str, Any]] = {
    "description": {**_STRING, "description": "who holds this token, and what for"},
    "token": {
        **_STRING,
        "minLength": 1,
        "description": "the bearer token, by reference: ${env:NAME} or ${file:/path}",
    },
    "scopes": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": _STRING,
        "description": f"what the token may do: {access.EXPECTED_SCOPES}",
    },
}

WEBHOOK_KEYS: dict[str, dict[str, Any]] = {
    "description": {**_STRING, "description": "who sends to this webhook, and what"},
    "path": {
        **_STRING,
        "minLength": 1,
        "description": "the path served under the HTTP server's root; starts with /hooks/",
    },
    "queue": {**_STRING, "description": "the queue each verified delivery is enqueued into"},
    "scheme": {
        **_STRING,
        "minLength": 1,
        "description": f"how deliveries are signed: {webhooks.EXPECTED_SCHEMES}",
    },
    "secret": {
        **_STRING,
        "minLength": 1,
        "description": "the signing secret, by reference: ${env:NAME} or ${file:/path}",
    },
    "headers": {
        "type": "array",
        "uniqueItems": True,
        "items": {
            **_STRING,
            "pattern": webhooks.HEADER_PATTERN,
            "patternErrorMessage": f"expected {webhooks.HEADER_EXPECTED}",
        },
        "description": "request headers copied into the job's payload",
    },
    "header": {
        **_STRING,
        "pattern": webhooks.HEADER_PATTERN,
        "patternErrorMessage": f"expected {webhooks.HEADER_EXPECTED}",
        "description": "hmac: the header holding the hex HMAC-SHA256 of the body",
    },
    "id_header": {
        **_STRING,
        "pattern": webhooks.HEADER_PATTERN,
        "patternErrorMessage": f"expected {webhooks.HEADER_EXPECTED}",
        "description": "hmac: the header holding the delivery id (idempotency)",
    },
    "tolerance": {
        **_DURATION,
        "description": "stripe, standard: how far the signed timestamp may be from now (5m)",
    },
}

ALERT_KEYS: dict[str, dict[str, Any]] = {
    "description": {**_STRING, "description": "who is told, and how"},
    "events": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": _STRING,
        "description": f"the events routed: {', '.join(alerts.EVENTS)}",
    },
    "queue": {**_STRING, "description": "the queue each alert job goes into (its handler tells)"},
    "queues": {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": _STRING,
        "description": "only events about these queues (job.dead, queue.backlog); default all",
    },
    "throttle": {
        **_DURATION,
        "description": "at most one alert job per event and subject in this time (5m; 0: none)",
    },
    "backlog_age": {
        **_DURATION,
        "description": "queue.backlog: alert when the oldest ready job has waited this long",
    },
}


def _entries(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "propertyNames": {"$ref": "#/$defs/name"},
        "additionalProperties": {"$ref": ref},
    }


def structure() -> dict[str, Any]:
    """The schema `validate` checks every document's shape against."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "jobrunner job file, version 1",
        "type": "object",
        "additionalProperties": False,
        "required": ["version"],
        "properties": {
            "version": {"const": 1, "description": "format version of this file"},
            "defaults": {"$ref": "#/$defs/defaults"},
            "queues": _entries("#/$defs/queue"),
            "cron": _entries("#/$defs/cron"),
            "access": _entries("#/$defs/access"),
            "webhooks": _entries("#/$defs/webhook"),
            "alerts": _entries("#/$defs/alert"),
        },
        "$defs": {
            "name": {
                "type": "string",
                "pattern": names.PATTERN,
                "patternErrorMessage": f"expected {names.EXPECTED}",
            },
            "duration": {
                "type": ["string", "integer"],
                "pattern": duration.PATTERN,
                "patternErrorMessage": f"expected {duration.EXPECTED}",
                "format": duration.FORMAT,
                "minimum": 0,
                "maximum": int(duration.MAX.total_seconds()),
            },
            "size": {
                "type": ["string", "integer"],
                "pattern": size.PATTERN,
                "patternErrorMessage": f"expected {size.EXPECTED}",
                "format": size.FORMAT,
                "minimum": 0,
                "maximum": size.MAX,
            },
            "retry": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "attempts": {"type": "integer", "minimum": 1},
                    "backoff": {"enum": ["fixed", "exponential"]},
                    "delay": _DURATION,
                    "max_delay": _DURATION,
                    "jitter": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
            "defaults": {
                "type": "object",
                "additionalProperties": False,
                "properties": {**POLICY_KEYS, **CRON_DEFAULT_KEYS},
            },
            "queue": {
                "type": "object",
                "additionalProperties": False,
                "required": ["handler"],
                "properties": QUEUE_KEYS,
            },
            "cron": {"type": "object", "additionalProperties": False, "properties": CRON_KEYS},
            "access": {
                "type": "object",
                "additionalProperties": False,
                "required": ["token", "scopes"],
                "properties": ACCESS_KEYS,
            },
            "webhook": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "queue", "scheme", "secret"],
                "properties": WEBHOOK_KEYS,
            },
            "alert": {
                "type": "object",
                "additionalProperties": False,
                "required": ["events", "queue"],
                "properties": ALERT_KEYS,
            },
        },
    }


def published(plugins: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The editor-facing schema: `structure()` plus plugin params and exclusivity rules."""
    schema = structure()
    defs = schema["$defs"]
    by_handler = [
        {
            "if": {"required": ["handler"], "properties": {"handler": {"const": name}}},
            "then": {"properties": {"params": {"$ref": f"#/$defs/params-{name}"}}},
        }
        for name in sorted(plugins)
    ]
    for name, params_schema in plugins.items():
        defs[f"params-{name}"] = dict(params_schema)
    defs["queue"]["allOf"] = by_handler
    defs["cron"]["allOf"] = [
        *by_handler,
        {"oneOf": [{"required": [key]} for key in ("schedule", "every", "at")]},
        {"oneOf": [{"required": ["handler"]}, {"required": ["queue"]}]},
    ]
    scopes = ACCESS_KEYS["scopes"]
    defs["access"]["properties"] = {
        **ACCESS_KEYS,
        "token": {**ACCESS_KEYS["token"], "pattern": access.TOKEN_PATTERN},
        "scopes": {**scopes, "items": {**_STRING, "pattern": access.SCOPE_PATTERN}},
    }
    defs["webhook"]["properties"] = {
        **WEBHOOK_KEYS,
        "path": {**WEBHOOK_KEYS["path"], "pattern": webhooks.PATH_PATTERN},
        "scheme": {**WEBHOOK_KEYS["scheme"], "enum": list(webhooks.SCHEMES)},
        "secret": {**WEBHOOK_KEYS["secret"], "pattern": webhooks.SECRET_PATTERN},
    }
    events = ALERT_KEYS["events"]
    defs["alert"]["properties"] = {
        **ALERT_KEYS,
        "events": {**events, "items": {"enum": list(alerts.EVENTS)}},
    }
    defs["alert"]["allOf"] = [
        {
            "if": {"properties": {"events": {"contains": {"const": alerts.QUEUE_BACKLOG}}}},
            "then": {"required": ["backlog_age"]},
        }
    ]
    defs["webhook"]["allOf"] = [
        {
            "if": {"properties": {"scheme": {"const": webhooks.HMAC}}},
            "then": {"required": ["header"]},
        }
    ]
    return schema
