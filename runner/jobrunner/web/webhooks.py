"""Webhook ingress: `POST /hooks/…` turns a signed delivery into one job (config/webhooks.py).

These routes are not behind the bearer tokens of web/access.py: a delivery is
trusted by its signature, made with the webhook's secret by its scheme:

- `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`;
  delivery id `X-GitHub-Delivery`.
- `stripe`: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
  (several `v1` allowed, for secret rotation); delivery id the event's `id`.
- `standard`: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64>`, secret `whsec_<base64>`), signed through the
  `standardwebhooks` package; delivery id `webhook-id`.
- `hmac`: the hex HMAC-SHA256 of the body in the configured `header` (an
  optional `sha256=` prefix); delivery id in `id_header`, when configured.

Signatures are compared in constant time. A signed timestamp (stripe, standard)
further from now than the webhook's `tolerance` is refused, so a captured
delivery cannot be replayed later; within it, the delivery id is the job's
idempotency key, so a delivery sent again (senders retry) is the same job.

Answers: 202 `{"id": job id}` once the job is stored; 401 for a missing or bad
signature or a stale timestamp; 413 for a body over the queue's `max_payload`;
400 for a payload the queue refuses; 404 for a path no webhook serves; 503 when
the storage is down or the secret does not resolve (the sender retries). Secrets
are read through their references when first needed and again every five
seconds, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import EmptyWebhookSecretError
from standardwebhooks.webhooks import Webhook as StandardWebhook
from starlette.concurrency import run_in_threadpool

from jobrunner.client import Client, EnqueueError
from jobrunner.config import webhooks as config
from jobrunner.config.access import resolve
from jobrunner.config.model import Webhook
from jobrunner.logs import event
from jobrunner.storage import Storage
from jobrunner.values import duration
from jobrunner.web.secrets import Secrets, read_text, reason

MAX_KEY = 200  # characters of a delivery id used as it is in an idempotency key
CHALLENGE = {"WWW-Authenticate": 'Signature realm="jobrunner webhooks"'}

Headers = Mapping[str, str]  # names in lower case
Secret = bytes | StandardWebhook  # what a scheme verifies with


class Refused(Exception):
    """A delivery whose signature does not hold: the reason, without any secret."""


# -- verification, pure: (webhook, secret, body, headers, now) → delivery id -------------


def verify(hook: Webhook, secret: Secret, body: bytes, headers: Headers, now: float) -> str | None:
    """The delivery id of a delivery whose signature holds (None when the sender gives
    none); `Refused` otherwise. `headers` are keyed in lower case."""
    if hook.scheme == config.GITHUB:
        return _github(_key(secret), body, headers)
    if hook.scheme == config.STRIPE:
        return _stripe(_key(secret), body, headers, now, hook.tolerance.total_seconds())
    if hook.scheme == config.STANDARD:
        if not isinstance(secret, StandardWebhook):
            raise TypeError("the standard scheme verifies with a standardwebhooks.Webhook")
        return _standard(secret, body, headers, now, hook.tolerance.total_seconds())
    if hook.scheme == config.HMAC:
        given = _header(headers, hook.header)
        _same_hex(_key(secret), body, given.removeprefix("sha256="), hook.header)
        return headers.get(hook.id_header.lower()) if hook.id_header else None
    raise Refused(f"unknown scheme '{hook.scheme}'")


def secret_for(scheme: str, text: str) -> Secret:
    """What `verify` takes for the secret `text` of a webhook of `scheme`; `ValueError`
    for a Standard Webhooks secret that is not `whsec_` and base64."""
    if scheme != config.STANDARD:
        return text.encode()
    try:
        return StandardWebhook(text)
    except (ValueError, EmptyWebhookSecretError, RuntimeError):  # binascii.Error is one
        raise ValueError("not a Standard Webhooks secret (whsec_ and base64)") from None


def _key(secret: Secret) -> bytes:
    if not isinstance(secret, bytes):
        raise TypeError("this scheme verifies with the secret's bytes")
    return secret


def _header(headers: Headers, name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise Refused(f"no {name} header: the delivery is not signed")
    return value


def _sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _same(expected: bytes, given: str) -> bool:
    """Constant time: `given` (header text) is `expected`."""
    return hmac.compare_digest(expected, given.encode("ascii", "replace"))


def _same_hex(key: bytes, data: bytes, given: str, header: str) -> None:
    expected = _sign(key, data).encode()
    if not _same(expected, given.strip().lower()):
        raise Refused(f"the {header} signature does not match the body")


def _github(key: bytes, body: bytes, headers: Headers) -> str | None:
    given = _header(headers, "X-Hub-Signature-256")
    if not given.startswith("sha256="):
        raise Refused("X-Hub-Signature-256 does not start with sha256=")
    _same_hex(key, body, given.removeprefix("sha256="), "X-Hub-Signature-256")
    return headers.get("x-github-delivery")


def _fresh(timestamp: str, now: float, tolerance: float) -> int:
    """The signed time `timestamp` (Unix seconds) when within `tolerance` of `now`."""
    try:
        when = int(timestamp)
    except ValueError:
        raise Refused(f"the signed timestamp '{timestamp[:20]}' is not Unix seconds") from None
    if abs(now - when) > tolerance:
        age = duration.format(timedelta(seconds=int(abs(now - when))))
        side = "old" if when < now else "far in the future"
        raise Refused(f"the signed timestamp is {age} {side}, beyond the tolerance")
    return when


def _stripe(key: bytes, body: bytes, headers: Headers, now: float, tolerance: float) -> str | None:
    given = _header(headers, "Stripe-Signature")
    parts = [item.partition("=") for item in given.split(",")]
    times = [value.strip() for name, _, value in parts if name.strip() == "t"]
    signatures = [value.strip() for name, _, value in parts if name.strip() == "v1"]
    if len(times) != 1 or not signatures:
        raise Refused("Stripe-Signature needs one t= and at least one v1=")
    _fresh(times[0], now, tolerance)
    expected = _sign(key, times[0].encode() + b"." + body).encode()
    matches = [_same(expected, s.lower()) for s in signatures]
    if not any(matches):
        raise Refused("no v1 signature of Stripe-Signature matches the body")
    try:
        event_id = json.loads(body).get("id")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return event_id if isinstance(event_id, str) else None


def _standard(
    secret: StandardWebhook, body: bytes, headers: Headers, now: float, tolerance: float
) -> str:
    msg_id = _header(headers, "webhook-id")
    signed = _header(headers, "webhook-signature")
    when = _fresh(_header(headers, "webhook-timestamp"), now, tolerance)
    expected = secret.sign(msg_id, datetime.fromtimestamp(when, UTC), body).encode()
    matches = [_same(expected, s) for s in signed.split()]
    if not any(matches):
        raise Refused("no signature of webhook-signature matches the delivery")
    return msg_id


# -- the routes ---------------------------------------------------------------------------


def webhook_secrets(
    environ: Mapping[str, str], read_file: Callable[[str], str], clock: Callable[[], float]
) -> Secrets[Webhook, Secret]:
    """The secrets of the webhooks in force, by name (web/secrets.py)."""

    def read(hook: Webhook) -> Secret:
        return secret_for(hook.scheme, resolve(hook.secret, environ, read_file))

    return Secrets(
        read, "webhook has no usable secret: its deliveries are answered 503", clock, _why
    )


def _why(exc: Exception) -> str:
    if isinstance(exc, ValueError) and not isinstance(exc, LookupError | UnicodeDecodeError):
        return "not a Standard Webhooks secret (whsec_ and base64)"  # never the value
    return reason(exc)


def router(
    webhooks: Callable[[], Mapping[str, Webhook]],
    storage: Storage,
    *,
    environ: Mapping[str, str] = os.environ,
    read_file: Callable[[str], str] = read_text,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> APIRouter:
    """The webhook routes; `webhooks`: the webhooks in force now."""
    routes = APIRouter()
    client = Client.over(storage)
    secrets = webhook_secrets(environ, read_file, clock)
    index: dict[str, Any] = {"for": None, "by_path": {}}

    def find(path: str) -> tuple[Mapping[str, Webhook], Webhook]:
        entries = webhooks()
        if entries is not index["for"]:
            index["by_path"] = {hook.path: hook for hook in entries.values()}
            index["for"] = entries
        hook = index["by_path"].get(path)
        if hook is None:
            raise HTTPException(404, f"no webhook is served at {path}")
        return entries, hook

    @routes.post("/hooks/{rest:path}", include_in_schema=False, status_code=202)
    async def deliver(request: Request, rest: str) -> JSONResponse:
        entries, hook = find("/hooks/" + rest)
        body = await _body(request, hook.max_body)
        secret = secrets.of(entries).get(hook.name)
        if secret is None:
            raise HTTPException(503, f"webhook '{hook.name}' has no usable secret: see the log")
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            delivery = verify(hook, secret, body, headers, wall())
        except Refused as exc:
            event(logging.WARNING, "webhook delivery refused", webhook=hook.name, reason=str(exc))
            raise HTTPException(401, str(exc), headers=CHALLENGE) from None
        copied = {name: headers.get(name.lower()) for name in hook.headers}
        payload = {
            "body": _parsed(body),
            "headers": {name: value for name, value in copied.items() if value is not None},
        }
        key = _idempotency_key(hook, delivery)
        try:
            job = await run_in_threadpool(client.enqueue, hook.queue, payload, idempotency_key=key)
        except EnqueueError as exc:
            if str(exc).startswith("unknown queue"):  # published configuration not there yet
                raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
            raise HTTPException(400, str(exc)) from None
        return JSONResponse({"id": job}, status_code=202)

    return routes


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, 413 as soon as it is over `limit` bytes."""
    too_large = HTTPException(
        413, f"the body is over the limit of {limit:,} bytes (the queue's max_payload)"
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parsed(body: bytes) -> Any:
    """The body as JSON, or as text when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def _idempotency_key(hook: Webhook, delivery: str | None) -> str | None:
    """The job's idempotency key from the sender's delivery id (None: the queue's own)."""
    if not delivery:
        return None
    if len(delivery) > MAX_KEY:
        delivery = hashlib.sha256(delivery.encode()).hexdigest()
    return f"webhook:{hook.name}:{delivery}"
