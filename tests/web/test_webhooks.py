"""Webhook ingress: each scheme's verification against its provider's documented examples,
the published view and the plan, and real deliveries to a web-role daemon over real HTTP,
on SQLite and Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_proc import Daemon
from servers import free_port
from standardwebhooks.webhooks import Webhook as StandardWebhook

from jobrunner.config.model import Config, Source, Webhook
from jobrunner.reload import publish
from jobrunner.reload.plan import plan
from jobrunner.storage import Storage
from jobrunner.values.refs import Ref
from jobrunner.web.webhooks import Refused, secret_for, verify, webhook_secrets

# GitHub's documented example (docs: "Validating webhook deliveries").
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
# The Standard Webhooks test vector (the spec's and the standardwebhooks package's tests).
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_TIME = 1614265330
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
STRIPE_SECRET = "whsec_test_stripe"


def hook(scheme: str, **kw: Any) -> Webhook:
    source = Source("hooks.yaml", 1, ("webhooks", scheme))
    return Webhook(scheme, f"/hooks/{scheme}", "events", scheme, Ref("env", "S"), source, **kw)


def stripe_header(secret: str, body: bytes, when: int, *extra: str) -> str:
    """Stripe's documented scheme: v1 = hex HMAC-SHA256(secret, "<t>.<body>")."""
    signed = hmac.new(secret.encode(), f"{when}.".encode() + body, hashlib.sha256).hexdigest()
    return ",".join([f"t={when}", *extra, f"v1={signed}"])


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- verification, scheme by scheme ------------------------------------------------------


def test_github_documented_example() -> None:
    github, secret = hook("github"), secret_for("github", GITHUB_SECRET)
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE, "x-github-delivery": "d-1"}
    assert verify(github, secret, GITHUB_BODY, headers, time.time()) == "d-1"
    with pytest.raises(Refused, match="does not match"):
        verify(github, secret, b"Hello, World?", headers, time.time())
    with pytest.raises(Refused, match="does not match"):
        verify(github, secret_for("github", "other"), GITHUB_BODY, headers, time.time())
    with pytest.raises(Refused, match="no X-Hub-Signature-256 header"):
        verify(github, secret, GITHUB_BODY, {}, time.time())
    last = "f" if GITHUB_SIGNATURE[-1] != "f" else "e"  # every character counts
    close = {"x-hub-signature-256": GITHUB_SIGNATURE[:-1] + last}
    with pytest.raises(Refused, match="does not match"):
        verify(github, secret, GITHUB_BODY, close, time.time())
    with pytest.raises(Refused, match="does not match"):
        verify(github, secret, GITHUB_BODY, {"x-hub-signature-256": "sha256="}, time.time())
    bare = {"x-hub-signature-256": GITHUB_SIGNATURE.removeprefix("sha256=")}
    with pytest.raises(Refused, match="sha256="):
        verify(github, secret, GITHUB_BODY, bare, time.time())


def test_standard_webhooks_test_vector() -> None:
    standard, secret = hook("standard"), secret_for("standard", STANDARD_SECRET)
    headers = {
        "webhook-id": STANDARD_ID,
        "webhook-timestamp": str(STANDARD_TIME),
        "webhook-signature": f"v1,bm90IHRoaXMgb25l {STANDARD_SIGNATURE}",  # rotation: any one
    }
    assert verify(standard, secret, STANDARD_BODY, headers, STANDARD_TIME + 60) == STANDARD_ID
    with pytest.raises(Refused, match="no signature"):
        verify(standard, secret, STANDARD_BODY + b" ", headers, STANDARD_TIME)
    with pytest.raises(Refused, match="beyond the tolerance"):  # a replay, 6 minutes later
        verify(standard, secret, STANDARD_BODY, headers, STANDARD_TIME + 360)
    with pytest.raises(Refused, match="beyond the tolerance"):
        verify(standard, secret, STANDARD_BODY, headers, STANDARD_TIME - 360)
    lenient = hook("standard", tolerance=timedelta(minutes=10))
    assert verify(lenient, secret, STANDARD_BODY, headers, STANDARD_TIME + 360) == STANDARD_ID
    with pytest.raises(Refused, match="no webhook-id header"):
        verify(standard, secret, STANDARD_BODY, {**headers, "webhook-id": ""}, STANDARD_TIME)
    with pytest.raises(ValueError, match="Standard Webhooks secret"):
        secret_for("standard", "whsec_")


def test_standard_agrees_with_the_package_signer() -> None:
    signer = StandardWebhook(STANDARD_SECRET)
    now = int(time.time())
    body = b'{"type": "invoice.paid"}'
    signature = signer.sign("msg_1", datetime.fromtimestamp(now, UTC), body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert verify(hook("standard"), secret_for("standard", STANDARD_SECRET), body, headers, now)


def test_stripe_signature_tolerance_and_event_id() -> None:
    stripe, secret = hook("stripe"), secret_for("stripe", STRIPE_SECRET)
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    now = 1_700_000_000
    old = "v1=" + "0" * 64  # a signature with a rotated-out secret, still sent
    headers = {"stripe-signature": stripe_header(STRIPE_SECRET, body, now - 10, old)}
    assert verify(stripe, secret, body, headers, now) == "evt_1"
    with pytest.raises(Refused, match="no v1 signature"):
        verify(stripe, secret, body.replace(b"paid", b"void"), headers, now)
    with pytest.raises(Refused, match="no v1 signature"):
        verify(stripe, secret_for("stripe", "wrong"), body, headers, now)
    with pytest.raises(Refused, match="beyond the tolerance"):
        verify(stripe, secret, body, headers, now + 301)
    with pytest.raises(Refused, match="one t= and at least one v1="):
        verify(stripe, secret, body, {"stripe-signature": f"t={now}"}, now)
    not_json = {"stripe-signature": stripe_header(STRIPE_SECRET, b"plain", now)}
    assert verify(stripe, secret, b"plain", not_json, now) is None


def test_generic_hmac_with_and_without_prefix() -> None:
    generic = hook("hmac", header="X-Signature", id_header="X-Delivery")
    secret, body = secret_for("hmac", "s3"), b'{"a": 1}'
    signed = hex_hmac("s3", body)
    for given in (signed, f"sha256={signed}", signed.upper()):
        headers = {"x-signature": given, "x-delivery": "7"}
        assert verify(generic, secret, body, headers, 0) == "7"
    assert (
        verify(hook("hmac", header="X-Signature"), secret, body, {"x-signature": signed}, 0) is None
    )
    with pytest.raises(Refused, match="X-Signature signature does not match"):
        verify(generic, secret, b'{"a": 2}', {"x-signature": signed}, 0)
    with pytest.raises(Refused, match="no X-Signature header"):
        verify(generic, secret, body, {}, 0)


def test_secrets_resolve_lazily_and_an_unusable_one_is_none() -> None:
    entries = {"github": hook("github"), "standard": hook("standard")}
    environ = {"S": "whsec_"}  # fine for github, not a Standard Webhooks secret
    secrets = webhook_secrets(environ, lambda path: "", time.monotonic).of(entries)
    assert secrets.get("github") == b"whsec_"
    assert secrets.get("standard") is None
    assert "whsec_" not in repr(entries["github"])  # the model leaves the secret out


# -- the published view and the plan -------------------------------------------------------


def test_published_view_and_plan_leave_the_secret_out() -> None:
    before = Config(webhooks={"github": hook("github", headers=("X-GitHub-Event",))})
    after = Config(webhooks={"github": replace(before.webhooks["github"], queue="builds")})
    shown = json.dumps(publish.webhooks(before))
    assert "env:S" not in shown and "secret" not in shown
    assert publish.content_hash(before) != publish.content_hash(after)
    assert publish.content_hash(Config()) == publish.content_hash(Config(access={}))
    sides = (publish.webhooks(before), publish.webhooks(after))
    change = plan(publish.view(before, 0), publish.view(after, 0), webhooks=sides)
    assert str(change) == "~ webhook github: queue events → builds"
    added = plan(None, publish.view(after, 0), webhooks=({}, sides[1]))
    assert str(added) == "+ webhook github"


# -- over real HTTP, against a web-role daemon ------------------------------------------

JOBS = """\
version: 1
queues:
  events:
    handler: python
    params: {{callable: "jobapp:record"}}
    payload_schema:
      type: object
      required: [body]
      properties:
        body: {{type: object, required: [action]}}
    max_payload: 4KiB
webhooks:
  gh:
    path: /hooks/github
    queue: events
    scheme: github
    secret: "${{file:{secrets}/github}}"
    headers: [X-GitHub-Event]
  stripe:
    path: /hooks/stripe
    queue: events
    scheme: stripe
    secret: "${{file:{secrets}/stripe}}"
  std: {{path: /hooks/std, queue: events, scheme: standard, secret: "${{file:{secrets}/std}}"}}
  generic:
    path: /hooks/generic
    queue: events
    scheme: hmac
    secret: "${{file:{secrets}/generic}}"
    header: X-Signature
    id_header: X-Delivery
access:  # the API needs a token; webhooks do not, they are signed
  reader: {{token: "${{file:{secrets}/token}}", scopes: [read]}}
"""


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers["content-type"] == "application/problem+json"
        return exc.code, json.loads(exc.read())


@pytest.fixture
def web(url: str, daemons: Callable[..., Daemon], tmp_path: Path) -> int:
    """A web-role daemon (no workers: jobs stay where they are stored); its port."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in {
        "github": GITHUB_SECRET,
        "stripe": STRIPE_SECRET,
        "std": STANDARD_SECRET,
        "generic": "generic-secret",
        "token": "api-token",
    }.items():
        (secrets / name).write_text(value + "\n")
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "hooks.yaml").write_text(JOBS.format(secrets=secrets))
    port = free_port()
    daemons(root, url, "--role", "web", "--http", str(port))
    return port


def github(body: bytes, delivery: str, secret: str = GITHUB_SECRET) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
    }


def standard(body: bytes, msg_id: str, when: int) -> dict[str, str]:
    signature = StandardWebhook(STANDARD_SECRET).sign(
        msg_id, datetime.fromtimestamp(when, UTC), body
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(when), "webhook-signature": signature}


def queued(store: Storage) -> int:
    stats = store.stats().get("events")
    return 0 if stats is None else stats.ready + stats.scheduled + stats.running


def test_each_delivery_becomes_one_job_even_sent_three_times(web: int, store: Storage) -> None:
    body = b'{"action": "push", "ref": "refs/heads/main"}'
    answers = [post(web, "/hooks/github", body, github(body, "gh-1")) for _ in range(3)]
    assert {status for status, _ in answers} == {202}
    assert len({answer["id"] for _, answer in answers}) == 1
    record = store.record(answers[0][1]["id"])
    assert record is not None
    assert record.job.payload == {"body": json.loads(body), "headers": {"X-GitHub-Event": "push"}}
    assert queued(store) == 1

    stripe_body = b'{"id": "evt_1", "action": "paid"}'
    now = int(time.time())
    for _ in range(3):  # Stripe retries re-sign with a fresh timestamp: still one event
        headers = {"Stripe-Signature": stripe_header(STRIPE_SECRET, stripe_body, now)}
        assert post(web, "/hooks/stripe", stripe_body, headers)[0] == 202
        now += 1
    std_body = b'{"action": "created"}'
    for _ in range(3):
        assert post(web, "/hooks/std", std_body, standard(std_body, "msg_1", now))[0] == 202
    generic_body = b'{"action": "alert"}'
    generic = {"X-Signature": hex_hmac("generic-secret", generic_body), "X-Delivery": "g-1"}
    for _ in range(3):
        assert post(web, "/hooks/generic", generic_body, generic)[0] == 202
    assert queued(store) == 4
    # The API itself still wants its token: the webhook routes are not a way around it.
    status, _ = post(web, "/api/v1/queues/events/jobs", b'{"payload": {}}', {})
    assert status == 401


def test_refusals(web: int, store: Storage) -> None:
    body = b'{"action": "push"}'
    status, problem = post(web, "/hooks/github", b'{"action": "pwned"}', github(body, "t-1"))
    assert status == 401 and problem["status"] == 401 and "does not match" in problem["detail"]
    status, _ = post(web, "/hooks/github", body, github(body, "t-2", secret="guessed"))
    assert status == 401
    status, _ = post(web, "/hooks/github", body, {"X-GitHub-Delivery": "t-3"})
    assert status == 401
    stale = int(time.time()) - 600
    headers = {"Stripe-Signature": stripe_header(STRIPE_SECRET, body, stale)}
    status, problem = post(web, "/hooks/stripe", body, headers)
    assert status == 401 and "beyond the tolerance" in problem["detail"]
    status, _ = post(web, "/hooks/std", body, standard(body, "msg_old", stale))
    assert status == 401

    large = json.dumps({"action": "push", "pad": "x" * 5000}).encode()
    status, problem = post(web, "/hooks/github", large, github(large, "t-4"))
    assert status == 413 and "4,096" in problem["detail"]

    refused = b'{"no_action": true}'
    status, problem = post(web, "/hooks/github", refused, github(refused, "t-5"))
    assert status == 400 and "payload_schema" in problem["detail"]
    status, _ = post(web, "/hooks/nothing-here", body, github(body, "t-6"))
    assert status == 404
    assert queued(store) == 0
