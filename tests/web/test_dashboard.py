"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a worker
daemon and a web-role daemon started as subprocesses, on SQLite and on Redis.

One walk per backend, as an operator would go: sign in with a token of an `access:` entry
(from `${env:…}`), find a failing job in the dead letters with its error, fix the handler's
file in jobs.d, replay it from the page and see it succeed, pause a queue and see no job
start, trigger a cron entry, enqueue from the form generated from the queue's
payload_schema (a refused payload shows the API's message), and see a quarantined file
with its file:line problem. Every page gets axe-core's accessibility check (no serious or
critical violation) and must raise no Content-Security-Policy violation.

With JOBRUNNER_SCREENSHOTS=1 the walk on SQLite saves a screenshot of each page into
docs/screenshots/ (the README shows the overview); CI leaves docs alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_proc import Daemon, wait_until
from servers import free_port

from jobrunner.job import State
from jobrunner.storage import Storage, records

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
TOKEN = "dash-operate-7c1e9a2b4d6f8e0a"
READ_TOKEN = "dash-read-3b5d7f9a1c2e4f6a"

ACCESS = """\
version: 1
access:
  on-call: {token: "${env:DASHBOARD_TOKEN}", scopes: [read, operate, enqueue]}
  auditor: {token: "${env:DASHBOARD_READ_TOKEN}", scopes: [read]}
"""
WORK = """\
version: 1
queues:
  work:
    description: Jobs the tests enqueue from the schema form
    handler: python
    params: {callable: "jobapp:record"}
    payload_schema:
      type: object
      required: [out, n]
      properties:
        out: {type: string, description: Where the handler notes the run}
        n: {type: integer}
        kind: {enum: [daily, weekly]}
"""
FIXABLE = """\
version: 1
queues:
  fixable:
    handler: python
    params: {{callable: "jobapp:{callable}"}}
    retry: {{attempts: 1}}
"""
CRON = """\
version: 1
cron:
  tick:
    {schedule}
    timezone: Europe/Berlin
    queue: work
    payload: {{out: {out}, n: 7}}
"""


def chromium() -> str:
    """Debian's chromium; .ci/run installs it, so CI never skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture
def site(url: str, store: Storage, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A worker daemon and a web-role daemon with access entries; the web one's address."""
    root = tmp_path / "jobs.d"
    root.mkdir()
    (root / "access.yaml").write_text(ACCESS)
    (root / "work.yaml").write_text(WORK)
    (root / "fixable.yaml").write_text(FIXABLE.format(callable="permanent"))
    cron = CRON.format(schedule='schedule: "0 3 * * *"', out=tmp_path / "cron.jsonl")
    (root / "cron.yaml").write_text(cron)
    env = {"DASHBOARD_TOKEN": TOKEN, "DASHBOARD_READ_TOKEN": READ_TOKEN}
    port = free_port()
    started = []
    for n, args in enumerate([(), ("--role", "web", "--http", str(port))]):
        # jobs.d relative to the daemons' working directory (tmp_path): pages show jobs.d/…
        daemon = Daemon(Path("jobs.d"), url, *args, log=tmp_path / f"daemon-{n}.log", env=env)
        started.append(daemon)
        daemon.start()
    try:
        yield {"base": f"http://127.0.0.1:{port}", "root": root, "tmp": tmp_path, "url": url}
    finally:
        for daemon in started:
            if daemon.process and daemon.process.poll() is None:
                daemon.kill()


@pytest.fixture
def page(site: dict[str, Any]) -> Iterator[Any]:
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.csp_violations = []
        tab.on("console", lambda m: _csp(tab, m.text))
        tab.on("dialog", lambda dialog: dialog.accept())
        yield tab
        context.close()
        browser.close()


def _csp(tab: Any, text: str) -> None:
    if "Content Security Policy" in text:
        tab.csp_violations.append(text)


def check(tab: Any, name: str, site: dict[str, Any]) -> None:
    """axe-core finds no serious or critical violation, no CSP violation was reported, and,
    when asked, a screenshot of the page is saved for the docs."""
    tab.wait_for_load_state("load")
    tab.evaluate(AXE.read_text())  # evaluated by the browser's devtools, outside the CSP
    found = tab.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {json.dumps(bad, indent=1)}"
    assert not tab.csp_violations, f"{name}: {tab.csp_violations}"
    if os.environ.get("JOBRUNNER_SCREENSHOTS") == "1" and site["url"].startswith("sqlite"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def api(site: dict[str, Any], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(site["base"] + path, data=data, method=method)
    request.add_header("authorization", f"Bearer {TOKEN}")
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def state_of(store: Storage, job_id: str) -> State | None:
    record = store.record(job_id)
    return record.state if record is not None else None


def generation(store: Storage) -> int:
    doc = records.read_published(store)
    return doc.generation if doc is not None else 0


@pytest.mark.timeout(300)
def test_an_operator_walks_through_the_dashboard(
    page: Any, site: dict[str, Any], store: Storage
) -> None:
    base, root, tmp = site["base"], site["root"], site["tmp"]

    # Sign in: the pages send whoever has no session to the form; a wrong token is refused.
    page.goto(base + "/queues/work")
    assert page.url.startswith(base + "/signin")
    check(page, "signin", site)
    page.fill("#token", "not-a-token")
    page.click("form.signin button")
    page.get_by_text("the bearer token is not one in force").wait_for()
    page.fill("#token", TOKEN)
    page.click("form.signin button")
    page.wait_for_url(base + "/queues/work")
    page.get_by_text("Signed in as").wait_for()

    # A failing job lands in the dead letters, with its error.
    noted = {"out": str(tmp / "fixable.jsonl"), "n": 1}
    status, job = api(site, "POST", "/api/v1/queues/fixable/jobs", {"payload": noted})
    assert status == 201
    wait_until(lambda: state_of(store, job["id"]) is State.DEAD, what="the job to die")
    page.goto(base + "/dead")
    row = page.locator("tr", has_text=job["id"])
    assert "this payload can never work" in row.inner_text()
    check(page, "dead", site)

    # Fix the handler in jobs.d, then replay from the page: the job succeeds.
    before = generation(store)
    (root / "fixable.yaml").write_text(FIXABLE.format(callable="record"))
    wait_until(lambda: generation(store) > before, what="the fix to be in force")
    time.sleep(1.5)  # both daemons reload within a second of the change
    page.select_option("#d-queue", "fixable")
    page.click(".filters button")
    page.get_by_role("button", name=re.compile("^Replay every dead job")).click()
    page.get_by_text("1 dead job(s) replayed.").wait_for()
    wait_until(lambda: state_of(store, job["id"]) is State.SUCCEEDED, what="the replay to run")
    store_attempts = store.record(job["id"]).attempts  # type: ignore[union-attr]
    assert [a.outcome for a in store_attempts][-1] == "succeeded"
    page.goto(base + f"/jobs/{job['id']}")
    assert "succeeded" in page.locator("dl.facts").inner_text()
    assert "jobs.d/fixable.yaml:3" in page.inner_text("main")  # provenance, file:line
    check(page, "job", site)

    # Pause a queue from its page: a job enqueued meanwhile does not start until resumed.
    page.goto(base + "/queues/work")
    page.fill("#pause-reason", "INC-4711")
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("Queue paused").wait_for()
    out = str(tmp / "work.jsonl")
    status, held = api(site, "POST", "/api/v1/queues/work/jobs", {"payload": {"out": out, "n": 2}})
    assert status == 201
    time.sleep(2.5)
    record = store.record(held["id"])
    assert record is not None and record.state is State.QUEUED and not record.attempts
    page.get_by_role("button", name="Resume").click()
    page.get_by_text("Queue resumed").wait_for()
    wait_until(lambda: state_of(store, held["id"]) is State.SUCCEEDED, what="the held job to run")

    # Enqueue from the form generated from the payload_schema; a refusal says the API's words.
    page.fill("#in-out", out)
    page.fill("#in-n", "many")
    page.click("form.enqueue button[type=submit]")
    refusal = page.locator("#refused")
    refusal.wait_for()
    _, problem = api(
        site, "POST", "/api/v1/queues/work/jobs", {"payload": {"out": out, "n": "many"}}
    )
    assert refusal.inner_text() == f"Refused: {problem['detail']}"
    assert page.input_value("#in-n") == "many"  # what was sent stays in the form
    page.fill("#in-n", "5")
    page.select_option("#in-kind", "weekly")
    page.click("form.enqueue button[type=submit]")
    page.get_by_text("Job enqueued.").wait_for()
    made = page.url.rsplit("/jobs/", 1)[1].split("?")[0]
    wait_until(lambda: state_of(store, made) is State.SUCCEEDED, what="the form's job to run")
    assert store.record(made).job.payload == {"out": out, "n": 5, "kind": "weekly"}  # type: ignore[union-attr]
    page.goto(base + "/queues/work")
    check(page, "queue", site)

    # Trigger a cron entry: its run is enqueued and runs.
    page.goto(base + "/crons/tick")
    assert "Europe/Berlin" in page.inner_text("main")
    page.get_by_role("button", name="Trigger now").click()
    page.get_by_text("Triggered: the run is enqueued.").wait_for()
    ran = tmp / "cron.jsonl"
    wait_until(lambda: ran.exists() and '"n": 7' in ran.read_text(), what="the cron run")
    page.reload()
    assert "triggered by hand" in page.inner_text("main")
    check(page, "cron", site)

    page.goto(base + "/daemons")
    assert page.locator("tbody tr").count() == 2
    check(page, "daemons", site)

    # A file that no longer validates is quarantined: its problem at file:line on the pages.
    bad = CRON.format(schedule='schedule: "0 3 * * * * *"', out=tmp / "cron.jsonl")
    (root / "cron.yaml").write_text(bad)
    wait_until(lambda: _quarantined(store, "cron.yaml"), what="cron.yaml to be quarantined")
    page.goto(base + "/config")
    main = page.inner_text("main")
    assert "quarantined" in main
    assert re.search(r"jobs\.d/cron\.yaml:4:\d+", main), main
    page.locator("details[id$='cron.yaml'] summary").click()  # its last good text, in force
    assert 'schedule: "0 3 * * *"' in page.inner_text("details[id$='cron.yaml'] pre")
    assert page.locator(".diff span").count() > 0  # the plan that made the generation
    check(page, "config", site)

    page.goto(base + "/")
    assert "Quarantined" in page.inner_text(".banner")
    page.locator(".chart canvas").wait_for()  # uPlot drew the chart: scripts run under the CSP
    page.locator("#live[hx-get]").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/fragments/overview"), timeout=8000) as got:
        pass  # htmx refreshes the tables every 5 s
    assert got.value.status == 200
    page.locator("#live >> text=fixable").wait_for()  # swapped in, still the queues
    check(page, "overview", site)


def _quarantined(store: Storage, name: str) -> bool:
    found = records.read_problems(store)
    return found is not None and any(f.endswith(name) for f in found.quarantined)


@pytest.mark.timeout(120)
def test_a_read_only_session_sees_no_buttons_and_pages_work_without_javascript(
    site: dict[str, Any],
) -> None:
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    base = site["base"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        context = browser.new_context(java_script_enabled=False)
        tab = context.new_page()
        tab.goto(base + "/signin?next=/queues/work")
        tab.fill("#token", READ_TOKEN)
        tab.click("form.signin button")
        tab.wait_for_url(base + "/queues/work")
        main = tab.inner_text("main")
        assert "Jobs by state" in main and "(read only)" in tab.inner_text("header")
        assert tab.get_by_role("button", name="Pause").count() == 0
        assert tab.locator("form.enqueue").count() == 0
        tab.goto(base + "/")
        assert tab.locator("table").count() >= 2  # readable without JavaScript
        tab.click("header button")  # sign out
        tab.wait_for_url(base + "/signin")
        tab.goto(base + "/dead")
        assert tab.url.startswith(base + "/signin")
        context.close()
        browser.close()
