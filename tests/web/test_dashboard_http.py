"""The dashboard's guards over plain HTTP, without a browser: sign-in and its cookie, CSRF
refusals, scopes (`read` sees, `operate` acts), the Content-Security-Policy, sessions that
end when their token is rotated, and open pages (still CSRF-checked) without access
entries. Against a real daemon serving HTTP, on SQLite and Redis."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_proc import Daemon, wait_until
from servers import RedisServer, free_port

from jobrunner.job import Job, new_id
from jobrunner.storage import Storage

QUEUES = """\
version: 1
queues:
  work: {handler: python, params: {callable: "jobapp:record"}}
"""
ACCESS = """\
version: 1
access:
  on-call: {{token: "${{file:{dir}/on-call}}", scopes: [read, operate]}}
  auditor: {{token: "${{file:{dir}/auditor}}", scopes: [read]}}
"""
TOKENS = {"on-call": "o-5e1d9c3b7a2f4e6d8c0b", "auditor": "a-2c4e6a8b0d1f3e5a7c9b"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


class Browser:
    """A cookie jar and no redirects followed: each answer as the server gave it."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        processor = urllib.request.HTTPCookieProcessor(self.jar)
        self.opener = urllib.request.build_opener(processor, NoRedirect)

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self._send(urllib.request.Request(self.base + path))

    def post(self, path: str, **form: str) -> tuple[int, dict[str, str], str]:
        body = urllib.parse.urlencode(form).encode()
        return self._send(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _send(self, request: urllib.request.Request) -> tuple[int, dict[str, str], str]:
        try:
            with self.opener.open(request, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def csrf(self, path: str = "/signin") -> str:
        status, _, html = self.get(path)
        assert status == 200, html
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found, html
        return found.group(1)

    def sign_in(self, token: str) -> tuple[int, dict[str, str], str]:
        return self.post("/signin", csrf=self.csrf(), token=token, next="/queues/work")


@pytest.fixture
def guarded(url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path) -> int:
    """A daemon serving HTTP with two access entries whose tokens are in files."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, token in TOKENS.items():
        (secrets / name).write_text(token)
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "work.yaml").write_text(QUEUES)
    (root / "access.yaml").write_text(ACCESS.format(dir=secrets))
    port = free_port()
    daemons(root, url, "--http", str(port))
    return port


def test_pages_need_a_session_and_sign_in_sets_a_strict_httponly_cookie(guarded: int) -> None:
    browser = Browser(guarded)
    status, headers, _ = browser.get("/queues/work")
    assert status == 303 and headers["location"] == "/signin?next=%2Fqueues%2Fwork"
    status, headers, html = browser.get("/signin")
    assert status == 200
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy

    status, _, html = browser.sign_in("wrong")
    assert status == 401 and "the bearer token is not one in force" in html
    status, headers, _ = browser.sign_in(TOKENS["on-call"])
    assert status == 303 and headers["location"] == "/queues/work"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKENS["on-call"] not in cookie  # an opaque session naming the entry, not the token
    status, _, html = browser.get("/queues/work")
    assert status == 200 and "Signed in as <strong>on-call</strong>" in html
    assert TOKENS["on-call"] not in html

    other = Browser(guarded)  # the cookie itself carries the session to another client…
    genuine = cookie.split(";")[0].split("=", 1)[1]
    other.jar.set_cookie(_cookie("jobrunner_session", genuine))
    assert other.get("/queues/work")[0] == 200
    forged = genuine  # …and one changed digit of its proof does not pass
    forged = forged[:-1] + ("1" if forged[-1] != "1" else "2")  # one hex digit of the proof
    other.jar.set_cookie(_cookie("jobrunner_session", forged))
    assert other.get("/queues/work")[0] == 303


def test_every_form_needs_the_sessions_csrf_token(guarded: int, store: Storage) -> None:
    browser = Browser(guarded)
    browser.sign_in(TOKENS["on-call"])
    token = browser.csrf("/queues/work")
    for sent in ({}, {"csrf": "forged"}, {"csrf": token + "x"}):
        status, _, html = browser.post("/queues/work/pause", reason="no", **sent)
        assert status == 403 and "no valid CSRF token" in html
    assert store.paused() == {}
    for action in ("/dead/purge", "/dead/replay", "/jobs/x/cancel", "/queues/work/enqueue"):
        assert browser.post(action)[0] == 403

    stranger = Browser(guarded)  # a token from another session does not pass either
    stranger.csrf()
    status, _, _ = stranger.post("/queues/work/pause", csrf=token)
    assert status == 403 and store.paused() == {}

    status, headers, _ = browser.post("/queues/work/pause", csrf=token, reason="INC-1")
    assert status == 303 and headers["location"] == "/queues/work?note=paused"
    paused = store.paused()["work"]
    assert paused.reason == "INC-1" and paused.by == "access entry on-call"
    assert browser.post("/queues/work/resume", csrf=token)[0] == 303
    assert store.paused() == {}


def test_read_sees_and_operate_acts(guarded: int, store: Storage) -> None:
    reader = Browser(guarded)
    reader.sign_in(TOKENS["auditor"])
    status, _, html = reader.get("/queues/work")
    assert status == 200 and "(read only)" in html
    assert "/queues/work/pause" not in html and "/queues/work/enqueue" not in html
    token = reader.csrf("/queues/work")
    status, _, html = reader.post("/queues/work/pause", csrf=token)
    assert status == 403 and "access entry &#39;auditor&#39; may not operate" in html
    status, _, html = reader.post("/queues/work/enqueue", csrf=token, payload="{}")
    assert status == 403 and "may not enqueue:work" in html
    assert store.paused() == {}
    for page in ("/", "/dead", "/config", "/daemons", "/fragments/overview"):
        assert reader.get(page)[0] == 200, page


def test_a_rotated_token_ends_its_sessions(guarded: int, tmp_path: Path) -> None:
    browser = Browser(guarded)
    browser.sign_in(TOKENS["on-call"])
    assert browser.get("/")[0] == 200
    (tmp_path / "secrets" / "on-call").write_text("o-rotated-0a1b2c3d4e5f")
    wait_until(lambda: browser.get("/")[0] == 303, what="the session to end", timeout=15)
    status, _, _ = browser.sign_in(TOKENS["on-call"])
    assert status == 401
    assert browser.sign_in("o-rotated-0a1b2c3d4e5f")[0] == 303


def test_without_access_entries_pages_are_open_and_forms_still_need_csrf(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "work.yaml").write_text(QUEUES)
    port = free_port()
    daemons(root, url, "--http", str(port))
    browser = Browser(port)
    status, headers, html = browser.get("/queues/work")
    assert status == 200 and "Signed in" not in html and "/queues/work/pause" in html
    assert "HttpOnly" in headers["set-cookie"]
    assert browser.post("/queues/work/pause")[0] == 403
    assert Browser(port).post("/queues/work/pause", csrf="guess")[0] == 403
    token = browser.csrf("/queues/work")
    status, _, _ = browser.post("/queues/work/pause", csrf=token, reason="open")
    assert status == 303 and store.paused()["work"].by.startswith("HTTP client 127.0.0.1")
    status, _, html = browser.post("/queues/work/enqueue", csrf=token, payload="[1, ")
    assert status == 400 and "the payload is not JSON" in html
    # A job written without provenance (a producer's record, an older daemon's) still shows,
    # with where its queue is defined.
    job = Job(new_id(), "work", {"n": 1}, created=time.time())
    store.enqueue(job)
    status, _, html = browser.get(f"/jobs/{job.id}")
    assert status == 200 and "work.yaml:3" in html, html


def _cookie(name: str, value: str) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None,
        True, None, None, {},
    )  # fmt: skip


def test_config_shows_the_last_plan_and_the_last_good_text_of_a_quarantined_file(
    url: str, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    commit = "fbff3d3018f4cdc3eff6e8dee87a7ddd3c5165eb"
    (tmp_path / ".git").mkdir()  # jobs.d in a Git checkout, HEAD detached at `commit`
    (tmp_path / ".git" / "HEAD").write_text(commit + "\n")
    root = tmp_path / "jobs.d"
    root.mkdir()
    good = QUEUES + "# the relay's password: ${env:SMTP_PASSWORD} <b>\n"
    (root / "work.yaml").write_text(good)
    port = free_port()
    daemons(root, url, "--http", str(port))
    browser = Browser(port)
    status, _, html = browser.get("/")
    assert status == 200 and f"commit <code>{commit}</code>" in html, html
    (root / "work.yaml").write_text(QUEUES.replace("}}", "}, concurrency: many}") + "# broken\n")
    wait_until(lambda: "Last good versions" in browser.get("/config")[2], what="the quarantine")
    status, _, html = browser.get("/config")
    assert status == 200
    assert "${env:SMTP_PASSWORD} &lt;b&gt;" in html  # as written, escaped, not resolved
    assert f'<details id="kept-{root / "work.yaml"}">' in html
    assert "# broken" not in html  # the text on disk is not the one in force
    assert '<span class="diff-add">+ queue work</span>' in html  # the plan of generation 1
    assert "Generation <strong>1</strong>, the first its daemon ran" in html
    assert f"commit <code>{commit}</code>" in html


def test_pages_answer_503_while_the_storage_is_down_and_recover(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    """A sick storage is a 503 that says so, never a 500 or a hang; the pages come back."""
    server = RedisServer(tmp_path)
    try:
        root = tmp_path / "jobs.d"
        root.mkdir()
        (root / "work.yaml").write_text(QUEUES)
        port = free_port()
        daemons(root, server.url, "--role", "web", "--http", str(port), "--lease", "1s")
        browser = Browser(port)
        assert browser.get("/")[0] == 200
        server.stop()
        for page in ("/", "/queues/work", "/dead", "/config"):
            status, _, body = browser.get(page)
            assert status == 503 and "cannot reach" in body, (page, status, body)
        server = RedisServer(tmp_path, port=server.port)
        wait_until(lambda: browser.get("/")[0] == 200, what="the pages to come back")
    finally:
        server.stop()
