"""The `http` plugin against real servers on 127.0.0.1: requests, signatures, answers, failures.

An `http.server` in a thread records every request it gets and answers what
the test tells it to; raw sockets play the servers that never answer. Only
loopback addresses are used, and proxies from the environment are switched
off so the requests really go there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from servers import free_port

from jobrunner import JobContext, PermanentError, RetryLater, __version__
from jobrunner.plugin import CheckOptions
from jobrunner_plugins import http
from jobrunner_plugins.http import Http

SECRET = "hmac-key-for-tests"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    """What the server got, and what it answers next."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            endpoint.received.append(Received(self.command, self.path, headers, body))
            self.send_response(endpoint.status)
            for name, value in endpoint.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(endpoint.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(endpoint.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _ctx(timeout: float = 5.0, key: str | None = None) -> JobContext:
    return JobContext("job-42", "mail", 1, time.monotonic() + timeout, idempotency_key=key)


def _answer(endpoint: Endpoint, status: int, body: bytes = b"", **headers: str) -> None:
    endpoint.status, endpoint.body = status, body
    endpoint.headers = {k.replace("_", "-"): v for k, v in headers.items()}


# -- the request --------------------------------------------------------------


def test_post_sends_the_payload_as_json_with_jobrunners_headers(endpoint: Endpoint) -> None:
    _answer(endpoint, 200, b'{"queued": true}', Content_Type="application/json")
    payload = {"to": "ann@example.com", "n": [1, 2]}
    result = Http({"url": f"{endpoint.url}/send"}).run(_ctx(), payload)
    assert result == {"status": 200, "body": {"queued": True}}
    (got,) = endpoint.received
    assert (got.method, got.path, got.json()) == ("POST", "/send", payload)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"jobrunner/{__version__}"
    assert got.headers["x-jobrunner-job"] == "job-42"
    assert "idempotency-key" not in got.headers
    assert "x-jobrunner-signature" not in got.headers


def test_url_fields_are_url_quoted(endpoint: Endpoint) -> None:
    params = {"url": f"{endpoint.url}/users/{{user.id}}/notes?tag={{tag}}&n={{n}}&x={{{{y}}}}"}
    payload = {"user": {"id": "a/b c"}, "tag": "x&y=z?é", "n": 7}
    Http(params).run(_ctx(), payload)
    assert endpoint.received[0].path == "/users/a%2Fb%20c/notes?tag=x%26y%3Dz%3F%C3%A9&n=7&x={y}"


def test_body_template_is_rendered_recursively(endpoint: Endpoint) -> None:
    body = {
        "to": "{to}",
        "items": "{items}",
        "count": "{user.count}",
        "nested": ["Hi {user.name}, {user.count} new", {"again": "{items}"}],
        "fixed": 3,
        "literal": "{{to}}",
    }
    payload = {
        "to": "ann@example.com",
        "items": [1, {"a": None}],
        "user": {"name": "Ann", "count": 5},
    }
    Http({"url": endpoint.url, "method": "PUT", "body": body}).run(_ctx(), payload)
    (got,) = endpoint.received
    assert got.method == "PUT"
    assert got.json() == {
        "to": "ann@example.com",
        "items": [1, {"a": None}],
        "count": 5,
        "nested": ["Hi Ann, 5 new", {"again": [1, {"a": None}]}],
        "fixed": 3,
        "literal": "{to}",
    }


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_send_no_body(endpoint: Endpoint, method: str) -> None:
    _answer(endpoint, 200, b"pong")
    result = Http({"url": f"{endpoint.url}/ping/{{id}}", "method": method}).run(
        _ctx(), {"id": "x1", "big": "ignored"}
    )
    assert result == {"status": 200, "body": "pong" if method == "GET" else None}
    (got,) = endpoint.received
    assert (got.method, got.path, got.body) == (method, "/ping/x1", b"")
    assert "content-type" not in got.headers
    assert "content-length" not in got.headers


def test_headers_and_the_idempotency_key(endpoint: Endpoint) -> None:
    params = {
        "url": endpoint.url,
        "headers": {
            "Authorization": "Bearer t0ken",
            "content-type": "application/vnd.api+json",
            "X-Jobrunner-Job": "not-this",
        },
    }
    Http(params).run(_ctx(key="ann@example.com:welcome"), {})
    got = endpoint.received[0].headers
    assert got["authorization"] == "Bearer t0ken"
    assert got["content-type"] == "application/vnd.api+json"
    assert got["x-jobrunner-job"] == "job-42"
    assert got["idempotency-key"] == "ann@example.com:welcome"


@pytest.mark.parametrize("header", [None, "X-Signature"])
def test_signature_is_an_hmac_of_the_exact_body(endpoint: Endpoint, header: str | None) -> None:
    signature = {"secret": SECRET} | ({"header": header} if header else {})
    body = {"text": "Grüße {name}", "raw": "{name}"}
    Http({"url": endpoint.url, "body": body, "signature": signature}).run(_ctx(), {"name": "Zoë"})
    (got,) = endpoint.received
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers[(header or "X-Jobrunner-Signature").lower()] == f"sha256={expected}"
    assert got.json() == {"text": "Grüße Zoë", "raw": "Zoë"}


def test_a_get_is_signed_over_the_empty_body(endpoint: Endpoint) -> None:
    Http({"url": endpoint.url, "method": "GET", "signature": {"secret": SECRET}}).run(_ctx(), {})
    expected = hmac.new(SECRET.encode(), b"", hashlib.sha256).hexdigest()
    assert endpoint.received[0].headers["x-jobrunner-signature"] == f"sha256={expected}"


def test_a_payload_without_a_templated_field_fails_for_good(endpoint: Endpoint) -> None:
    with pytest.raises(PermanentError, match=r"payload has no field 'user\.id'"):
        Http({"url": f"{endpoint.url}/u/{{user.id}}"}).run(_ctx(), {"user": {}})
    with pytest.raises(PermanentError, match="payload has no field 'to'"):
        Http({"url": endpoint.url, "body": {"to": "{to}"}}).run(_ctx(), ["not", "a", "mapping"])
    assert endpoint.received == []


# -- the answer ---------------------------------------------------------------


def test_2xx_bodies_come_back_parsed_or_as_text(endpoint: Endpoint) -> None:
    plugin = Http({"url": endpoint.url})
    _answer(endpoint, 201, "créé".encode("latin-1"), Content_Type="text/plain; charset=latin-1")
    assert plugin.run(_ctx(), {}) == {"status": 201, "body": "créé"}
    _answer(endpoint, 202, b"[1, 2]")
    assert plugin.run(_ctx(), {}) == {"status": 202, "body": [1, 2]}
    _answer(endpoint, 204)
    assert plugin.run(_ctx(), {}) == {"status": 204, "body": None}


def test_a_long_body_is_cut(endpoint: Endpoint) -> None:
    _answer(endpoint, 200, json.dumps(["x" * 100] * 1000).encode())
    body = Http({"url": endpoint.url}).run(_ctx(), {})["body"]
    assert isinstance(body, str)
    assert body.endswith(f"\n[truncated after {http.MAX_BODY} bytes]")
    assert len(body) < http.MAX_BODY + 50


def test_success_codes_count_as_success(endpoint: Endpoint) -> None:
    _answer(endpoint, 304)
    assert Http({"url": endpoint.url, "success_codes": [304]}).run(_ctx(), {}) == {
        "status": 304,
        "body": None,
    }
    _answer(endpoint, 409, b"exists")
    result = Http({"url": endpoint.url, "success_codes": [409]}).run(_ctx(), {})
    assert result == {"status": 409, "body": "exists"}


def test_redirects_are_not_followed(endpoint: Endpoint) -> None:
    _answer(endpoint, 302, Location=f"{endpoint.url}/elsewhere")
    with pytest.raises(PermanentError, match=r"answered 302.*redirects are not followed"):
        Http({"url": f"{endpoint.url}/old", "headers": {"Authorization": "x"}}).run(_ctx(), {})
    assert [r.path for r in endpoint.received] == ["/old"]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_4xx_fails_for_good_with_an_excerpt(endpoint: Endpoint, status: int) -> None:
    _answer(endpoint, status, b'{"error":\n  "no such template"}' + b" " * 10 + b"x" * 500)
    with pytest.raises(PermanentError) as failed:
        Http({"url": f"{endpoint.url}/send?token=s3cr3t"}).run(_ctx(), {})
    message = str(failed.value)
    excerpt = '{"error": "no such template"} x'
    assert message.startswith(f"POST {endpoint.url} answered {status}: {excerpt}")
    assert message.endswith("x…")
    assert len(message) < len(endpoint.url) + http.EXCERPT + 40
    assert "s3cr3t" not in message


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_retry_after_in_seconds(endpoint: Endpoint, status: int) -> None:
    _answer(endpoint, status, b"slow down", Retry_After="7")
    with pytest.raises(RetryLater) as later:
        Http({"url": endpoint.url}).run(_ctx(), {})
    assert later.value.delay == 7
    assert f"answered {status}: slow down (Retry-After: 7s)" in str(later.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date(endpoint: Endpoint, status: int) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    _answer(endpoint, status, Retry_After=format_datetime(when, usegmt=True))
    with pytest.raises(RetryLater) as later:
        Http({"url": endpoint.url}).run(_ctx(), {})
    assert 85 <= later.value.delay <= 90


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
@pytest.mark.parametrize("retry_after", [None, "soon"])
def test_without_retry_after_the_backoff_decides(
    endpoint: Endpoint, status: int, retry_after: str | None
) -> None:
    _answer(endpoint, status, b"", **({"Retry_After": retry_after} if retry_after else {}))
    with pytest.raises(Exception) as failed:
        Http({"url": endpoint.url}).run(_ctx(), {})
    assert type(failed.value) is RuntimeError
    assert str(failed.value) == f"POST {endpoint.url} answered {status}: (empty body)"


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    assert http.retry_after(" 120 ", now) == 120
    assert http.retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30
    assert http.retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0
    assert http.retry_after("Sun, 01 Mar 2026 12:01:00 -0000", now) == 60
    for unreadable in (None, "", "1.5", "-3", "²", "tomorrow"):
        assert http.retry_after(unreadable, now) is None


# -- no answer ----------------------------------------------------------------


def test_a_server_that_never_answers_times_out_at_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"no answer within the timeout of 0\.[45]s"):
            Http({"url": f"http://127.0.0.1:{port}/hook"}).run(_ctx(0.5), {})
        assert 0.4 <= time.monotonic() - started < 1.5


def test_a_body_still_arriving_at_the_deadline_times_out() -> None:
    release = threading.Event()

    def trickle(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n{")
            release.wait(10)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=trickle, args=(listener,))
        server.start()
        try:
            with pytest.raises(TimeoutError, match="the body was still arriving"):
                Http({"url": f"http://127.0.0.1:{listener.getsockname()[1]}"}).run(_ctx(0.5), {})
        finally:
            release.set()
            server.join()


def test_connection_refused_is_retried() -> None:
    port = free_port()  # bound and released: nothing listens there
    with pytest.raises(ConnectionError) as failed:
        Http({"url": f"http://127.0.0.1:{port}/hook?token=s3cr3t"}).run(_ctx(), {})
    assert not isinstance(failed.value, TimeoutError | PermanentError | RetryLater)
    assert str(failed.value).startswith(f"POST http://127.0.0.1:{port}: ")
    assert "refused" in str(failed.value)
    assert "s3cr3t" not in str(failed.value)


def test_no_time_left_sends_nothing(endpoint: Endpoint) -> None:
    with pytest.raises(TimeoutError, match="no time left"):
        Http({"url": endpoint.url}).run(_ctx(-1), {})
    assert endpoint.received == []


# -- params -------------------------------------------------------------------


def test_params_the_plugin_refuses() -> None:
    with pytest.raises(ValueError, match="http:// or https://") as refused:
        Http({"url": "ftp://files.internal/s3cr3t"})
    assert "s3cr3t" not in str(refused.value)
    with pytest.raises(ValueError, match="unmatched"):
        Http({"url": "https://x.internal/", "body": {"a": "{oops"}})
    with pytest.raises(ValueError, match="'Bad Name'"):
        Http({"url": "https://x.internal/", "headers": {"Bad Name": "v"}})
    with pytest.raises(ValueError, match="'X-Token'"):
        Http({"url": "https://x.internal/", "headers": {"X-Token": "a\r\nInjected: 1"}})


def test_check_reports_a_bad_header_name() -> None:
    params = {"url": "https://x.internal/", "headers": {"X Token": "v", "X-Ok": "v"}}
    issues = list(Http.check(params, CheckOptions()))
    assert [(i.path, i.message) for i in issues] == [
        (("headers", "X Token"), "'X Token' is not a header name")
    ]
