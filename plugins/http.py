"""`http`: call an HTTP endpoint with the payload.

```yaml
handler: http
params:
  url: https://mail.internal/send/{template}     # {field} takes a payload field
  method: POST                                    # default POST
  headers: {Authorization: "Bearer ${env:MAIL_TOKEN}"}
  body: {to: "{to}", template: "{template}"}      # default: the payload as JSON
  signature: {secret: "${env:MAIL_HMAC_KEY}"}     # HMAC-SHA256 of the body
```

A 2xx answer is success. 4xx answers fail permanently, except 408 and 429;
5xx answers and network errors are retried, honouring `Retry-After`. With an
idempotency key the request carries an `Idempotency-Key` header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jobrunner import template
from jobrunner.plugin import CheckOptions, ParamIssue, Plugin
from jobrunner.refs import walk_strings

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class Http(Plugin):
    name = "http"
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "description": "Call an HTTP endpoint with the payload.",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "description": "http(s) URL; `{field}` inserts a payload field",
                "type": "string",
                "minLength": 1,
            },
            "method": {"enum": METHODS, "default": "POST"},
            "headers": {
                "description": "request headers; use ${env:…} for tokens",
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "body": {"description": "request body template (JSON); default: the payload itself"},
            "signature": {
                "description": "sign the body with HMAC-SHA256",
                "type": "object",
                "additionalProperties": False,
                "required": ["secret"],
                "properties": {
                    "secret": {"type": "string", "minLength": 1},
                    "header": {"type": "string", "default": "X-Jobrunner-Signature"},
                },
            },
            "success_codes": {
                "description": "status codes counted as success besides 2xx",
                "type": "array",
                "items": {"type": "integer", "minimum": 100, "maximum": 599},
            },
        },
    }

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        url = params.get("url")
        if isinstance(url, str):
            yield from _check_url(url)
        for path, text in walk_strings({k: params[k] for k in ("url", "body") if k in params}):
            try:
                template.fields(text)
            except ValueError as exc:
                yield ParamIssue(path, str(exc))
        secret = params.get("signature", {}).get("secret")
        if isinstance(secret, str) and "${" not in secret:
            yield ParamIssue(
                ("signature", "secret"),
                "the signing secret is written in the file in plain text",
                "use ${env:NAME} or ${file:/run/secrets/…} so it stays out of Git",
                warning=True,
            )


def _check_url(url: str) -> Iterator[ParamIssue]:
    if url.startswith("${"):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        yield ParamIssue(
            ("url",),
            f"'{url}' is not an http(s) URL",
            "write it as https://host/path",
        )
