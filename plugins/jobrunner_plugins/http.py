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

The request: each `{field}` of `url` is replaced by the payload's field,
URL-quoted (`a/b c` becomes `a%2Fb%20c`). The body is `body` rendered
recursively (a string that is exactly one `{field}` takes that field's JSON
value, other strings are templates) or else the payload itself, sent as JSON
with `Content-Type: application/json`; GET and HEAD send no body. Headers:
`User-Agent: jobrunner/<version>`, then `headers`, then
`X-Jobrunner-Job: <job id>`, `Idempotency-Key` when the job has a key, and
with `signature` its header (default `X-Jobrunner-Signature`) set to
`sha256=<hex HMAC-SHA256 of the exact body bytes>`. The request may take
the time left until the attempt's deadline; redirects are not followed.

The answer: 2xx, or a code in `success_codes`, returns `{"status": code,
"body": …}` (the body parsed as JSON, else text; null when empty; text cut
after `MAX_BODY` bytes). 408 and 429 raise `RetryLater` after `Retry-After`
(seconds or an HTTP date); without one they fail and are retried with the
policy's backoff, like 5xx answers (which honour `Retry-After` too) and
network errors. Other answers, 4xx and unfollowed 3xx, raise
`PermanentError` with the status and a short excerpt of the body. No answer
by the deadline raises `TimeoutError`. Messages name the method and the
origin (`POST https://mail.internal`), never the path or query, which may
hold secrets.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import http.client
import json
import re
import time
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit

from jobrunner import __version__
from jobrunner.plugin import (
    CheckOptions,
    JobContext,
    ParamIssue,
    PermanentError,
    Plugin,
    RetryLater,
    template,
    walk_strings,
)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
NO_BODY = ("GET", "HEAD")
SIGNATURE_HEADER = "X-Jobrunner-Signature"
MAX_BODY = 65536  # bytes of an answer kept in the result
EXCERPT = 200  # characters of an answer quoted in an error message
_SECONDS = re.compile(r"[0-9]+", re.ASCII)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110)


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
                    "header": {"type": "string", "default": SIGNATURE_HEADER},
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
        headers = params.get("headers")
        for key in headers if isinstance(headers, Mapping) else ():
            if not _TOKEN.fullmatch(str(key)):
                yield ParamIssue(
                    ("headers", key),
                    f"'{key}' is not a header name",
                    "a header name is letters, digits and -, like X-Request-Source",
                )
        secret = params.get("signature", {}).get("secret")
        if isinstance(secret, str) and "${" not in secret:
            yield ParamIssue(
                ("signature", "secret"),
                "the signing secret is written in the file in plain text",
                "use ${env:NAME} or ${file:/run/secrets/…} so it stays out of Git",
                warning=True,
            )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.url: str = params["url"]
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("`url` must start with http:// or https://")  # no URL: a secret?
        for _, text in walk_strings({k: params[k] for k in ("url", "body") if k in params}):
            template.fields(text)  # ValueError for a malformed template
        self.method: str = params.get("method", "POST")
        self.headers: dict[str, str] = dict(params.get("headers", {}))
        for key, value in self.headers.items():
            if not _TOKEN.fullmatch(key) or re.search(r"[\r\n]", value):
                raise ValueError(f"header '{key}': a name is a token, a value has no line break")
        self.has_body, self.body = "body" in params, params.get("body")
        signature = params.get("signature")
        self.secret = signature["secret"].encode() if signature else None
        self.signature_header = (signature or {}).get("header", SIGNATURE_HEADER)
        self.success = frozenset(params.get("success_codes", ()))

    def run(self, ctx: JobContext, payload: Any) -> Any:
        url, data = self._request_parts(payload)
        where = f"{self.method} {_origin(url)}"
        request = urllib.request.Request(
            url, data=data, headers=self._headers(ctx, data), method=self.method
        )
        status, headers, raw = _fetch(request, ctx.deadline, where)
        return self._judge(status, headers, raw, where)

    def _request_parts(self, payload: Any) -> tuple[str, bytes | None]:
        """The URL and body for this payload; `PermanentError` when the payload cannot fill them."""
        try:
            quoted = _Quoted(payload) if isinstance(payload, Mapping) else payload
            url = template.render(self.url, quoted)
            if self.method in NO_BODY:
                return url, None
            body = _render(self.body, payload) if self.has_body else payload
        except KeyError as exc:
            raise PermanentError(f"cannot build the request: {exc.args[0]}") from None
        return url, json.dumps(body).encode()

    def _headers(self, ctx: JobContext, data: bytes | None) -> dict[str, str]:
        headers = {"User-Agent": f"jobrunner/{__version__}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self.headers)
        headers["X-Jobrunner-Job"] = ctx.job_id
        if ctx.idempotency_key is not None:
            headers["Idempotency-Key"] = ctx.idempotency_key
        if self.secret is not None:
            digest = hmac.new(self.secret, data or b"", hashlib.sha256).hexdigest()
            headers[self.signature_header] = f"sha256={digest}"
        return headers

    def _judge(self, status: int, headers: Message, raw: bytes, where: str) -> Any:
        """The result of a 2xx answer, or the exception that says what a retry can do."""
        if 200 <= status < 300 or status in self.success:
            return {"status": status, "body": _body(raw, headers)}
        answered = f"{where} answered {status}: {_excerpt(raw, headers)}"
        if status in (408, 429) or status >= 500:
            delay = retry_after(headers.get("Retry-After"), time.time())
            if delay is not None:
                raise RetryLater(delay, f"{answered} (Retry-After: {delay:g}s)")
            raise RuntimeError(answered)  # retried with the policy's backoff
        if 300 <= status < 400:
            raise PermanentError(
                f"{answered}; redirects are not followed: use the final URL, "
                "or list the code in success_codes"
            )
        raise PermanentError(answered)


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


def _fetch(
    request: urllib.request.Request, deadline: float, where: str
) -> tuple[int, Message, bytes]:
    """Send `request`; the status, headers and (start of the) body of the answer."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"{where}: no time left before the attempt's deadline")
    late = f"{where}: no answer within the timeout of {left:.1f}s"
    try:
        response = _opener().open(request, timeout=left)
    except HTTPError as exc:  # urllib's word for any answer but 2xx
        response = exc
    except http.client.InvalidURL:
        raise PermanentError(f"{where}: the URL holds spaces or control characters") from None
    except TimeoutError:
        raise TimeoutError(late) from None
    except URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(late) from None
        raise ConnectionError(f"{where}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(f"{where}: {exc!r}") from None
    if isinstance(response, HTTPError) and response.fp is None:
        return response.code, response.headers, b""
    with response:
        try:
            return response.code, response.headers, _read(response, deadline)
        except TimeoutError:
            raise TimeoutError(f"{late}: the body was still arriving") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionError(f"{where}: the answer broke off: {exc!r}") from None


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only, proxies from the environment (`https_proxy`, `no_proxy`), no redirects."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class _Stream(Protocol):
    def read1(self, size: int = ..., /) -> bytes: ...


def _read(stream: _Stream, deadline: float) -> bytes:
    """Up to `MAX_BODY + 1` bytes of the body (one more says it was cut), by the deadline."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = stream.read1(MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _text(raw: bytes, headers: Message) -> str:
    charset = headers.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return raw[:MAX_BODY].decode(charset, errors="replace")


def _body(raw: bytes, headers: Message) -> Any:
    """The answer's body for the result: JSON parsed, else text; None when empty."""
    if not raw:
        return None
    text = _text(raw, headers)
    if len(raw) > MAX_BODY:
        return f"{text}\n[truncated after {MAX_BODY} bytes]"
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _excerpt(raw: bytes, headers: Message) -> str:
    text = " ".join(_text(raw, headers).split())
    if not text:
        return "(empty body)"
    return text if len(text) <= EXCERPT else f"{text[:EXCERPT]}…"


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait per `Retry-After` (seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _origin(url: str) -> str:
    """`scheme://host[:port]` of `url`: what messages say, never the path, query or userinfo."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _render(value: Any, payload: Any) -> Any:
    """The body template filled from `payload`; `"{field}"` alone takes the field's JSON value."""
    if isinstance(value, str):
        names = template.fields(value)
        if len(names) == 1 and value == f"{{{names[0]}}}":
            return template.lookup(payload, names[0])
        return template.render(value, payload)
    if isinstance(value, Mapping):
        return {key: _render(item, payload) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, payload) for item in value]
    return value


class _Quoted(Mapping[str, Any]):
    """The payload as a URL template sees it: every value it inserts comes out URL-quoted."""

    def __init__(self, value: Mapping[str, Any]) -> None:
        self._value = value

    def __getitem__(self, key: str) -> Any:
        item = self._value[key]
        return _Quoted(item) if isinstance(item, Mapping) else quote(str(item), safe="")

    def __iter__(self) -> Iterator[str]:
        return iter(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __str__(self) -> str:
        return quote(str(self._value), safe="")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
