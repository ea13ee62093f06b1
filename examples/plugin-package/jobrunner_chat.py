"""`chat`: post a message to a chat webhook (Slack, Mattermost, Rocket.Chat).

```yaml
handler: chat
params:
  webhook: "${env:CHAT_WEBHOOK}"          # keep the URL (a secret) out of Git
  text: "Backup of {host} failed: {error}"  # {field} inserts a payload field
  username: jobrunner                      # optional
```

A 2xx answer is success. 429 and 503 are retried after the server's
`Retry-After`; other 4xx answers fail permanently (retrying cannot help);
5xx answers and network errors are retried per the queue's retry policy.

A third-party plugin imports only jobrunner's public contract, and registers
under the `jobrunner.plugins` entry-point group (see pyproject.toml).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jobrunner import CheckOptions, JobContext, ParamIssue, PermanentError, Plugin, RetryLater

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
DEFAULT_RETRY_AFTER = 30.0


class ChatMessage(Plugin):
    name = "chat"
    # The JSON Schema of `params`: `jobrunner validate` checks it, and
    # `jobrunner schema` publishes it so editors complete and check it too.
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "description": "Post a message to a chat webhook.",
        "additionalProperties": False,
        "required": ["webhook", "text"],
        "properties": {
            "webhook": {
                "description": "incoming-webhook URL; use ${env:…} or ${file:…}",
                "type": "string",
                "minLength": 1,
            },
            "text": {
                "description": "message; {field} inserts a payload field, {{ and }} are braces",
                "type": "string",
                "minLength": 1,
            },
            "username": {"description": "name shown as the sender", "type": "string"},
        },
    }

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        """What the schema cannot say. Params arrive as written: `${…}` is not resolved yet."""
        webhook = params.get("webhook")
        if isinstance(webhook, str) and "${" not in webhook:
            yield ParamIssue(
                ("webhook",),
                "the webhook URL is written in the file in plain text",
                "anyone who has the URL can post: use ${env:NAME} or ${file:/run/secrets/…}",
                warning=True,
            )
            if urlsplit(webhook).scheme not in ("http", "https"):
                yield ParamIssue(("webhook",), f"'{webhook}' is not an http(s) URL")
        text = params.get("text")
        if isinstance(text, str):
            try:
                fields(text)
            except ValueError as exc:
                yield ParamIssue(("text",), str(exc), "write {{ and }} for literal braces")

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.webhook: str = params["webhook"]
        self.text: str = params["text"]
        self.username: str | None = params.get("username")

    def run(self, ctx: JobContext, payload: Any) -> Any:
        """One attempt: post the message, and say whether a retry can help."""
        try:
            message: dict[str, Any] = {"text": render(self.text, payload)}
        except KeyError as exc:
            raise PermanentError(f"cannot build the message: {exc.args[0]}") from None
        if self.username:
            message["username"] = self.username
        request = urllib.request.Request(
            self.webhook,
            data=json.dumps(message).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if ctx.idempotency_key:
            request.add_header("Idempotency-Key", ctx.idempotency_key)
        timeout = max(0.1, ctx.deadline - time.monotonic())
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return {"status": response.status}
        except urllib.error.HTTPError as exc:
            with exc:
                raise _failure(exc.code, exc.headers.get("Retry-After")) from None


def _failure(status: int, retry_after: str | None) -> Exception:
    """The exception that tells jobrunner what to do after a non-2xx answer."""
    if status in (429, 503):
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return RetryLater(delay if delay is not None else DEFAULT_RETRY_AFTER)
    if 400 <= status < 500 and status != 408:
        return PermanentError(f"the webhook answered {status}: check its URL and the message")
    return RuntimeError(f"the webhook answered {status}")  # retried per the retry policy


def fields(text: str) -> list[str]:
    """The payload fields a message template uses; `ValueError` if it is malformed."""
    found = []
    for match in _TOKEN.finditer(text):
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            continue
        if name is None:
            raise ValueError(f"unmatched '{token}' in '{text}'")
        if not _FIELD.match(name):
            raise ValueError(f"'{{{name}}}' in '{text}' is not a payload field name")
        found.append(name)
    return found


def render(text: str, payload: Any) -> str:
    """Fill a message template from the payload; `KeyError` names a missing field."""

    def replace(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            return token[0]
        value = payload
        for part in name.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"the payload has no field '{name}'")
            value = value[part]
        return str(value)

    fields(text)
    return _TOKEN.sub(replace, text)
