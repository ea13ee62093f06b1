"""The examples and the documentation are correct: every job file and YAML snippet validates.

Docs rot when nothing runs them. Here every job file under examples/ and
jobs.d/ goes through the real `jobrunner validate --strict`, the example
plugin is checked against the plugin contract (as an installed entry point,
in a `Registry`, and by running it against a local HTTP server), the
pre-commit hook manifest is checked, and every ```yaml block of README.md and
docs/*.md that starts with `version: 1` is validated.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
import yaml
from conftest import ROOT, run_cli
from jsonschema import Draft202012Validator

from jobrunner import JobContext, PermanentError, Plugin, RetryLater, config
from jobrunner.problem import Severity
from jobrunner.registry import Registry, discover

EXAMPLES = ROOT / "examples"
PLUGIN_PACKAGE = EXAMPLES / "plugin-package"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # docs' examples must not depend on today's date


# -- job files ---------------------------------------------------------------


def _job_files() -> list[Path]:
    """Every YAML file under examples/ and jobs.d/ whose top level has a `version`."""
    found = []
    for path in sorted([*EXAMPLES.rglob("*.y*ml"), *(ROOT / "jobs.d").rglob("*.y*ml")]):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "version" in data:
            found.append(path)
    return found


def _jobs_roots() -> dict[Path, list[Path]]:
    """Job files grouped by the `jobs.d` directory that holds them (names are unique per root)."""
    roots: dict[Path, list[Path]] = {}
    for path in _job_files():
        root = next((p for p in path.parents if p.name == "jobs.d"), path)
        roots.setdefault(root, []).append(path)
    return roots


@pytest.fixture(scope="module")
def plugin_installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which the example plugin package looks installed.

    A `.dist-info` directory with the entry points of its pyproject.toml, on
    PYTHONPATH next to the module: what `pip install` would leave behind,
    without touching the test environment.
    """
    project = tomllib.loads((PLUGIN_PACKAGE / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("site")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = ["[jobrunner.plugins]"]
    lines += [f"{k} = {v}" for k, v in project["entry-points"]["jobrunner.plugins"].items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    entries = [str(site), str(PLUGIN_PACKAGE), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(e for e in entries if e)}


def test_examples_have_job_files() -> None:
    roots = _jobs_roots()
    assert ROOT / "jobs.d" in roots
    assert EXAMPLES / "gitops" / "jobs.d" in roots
    assert PLUGIN_PACKAGE / "jobs.d" in roots


@pytest.mark.parametrize("root", sorted(_jobs_roots()), ids=lambda p: str(p.relative_to(ROOT)))
def test_job_files_validate_strictly(root: Path, plugin_installed: dict[str, str]) -> None:
    files = _jobs_roots()[root]
    result = run_cli(
        "validate", "--strict", str(root.relative_to(ROOT)), cwd=ROOT, env=plugin_installed
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    count = f"{len(files)} file" + ("s" if len(files) != 1 else "")
    assert result.stderr.startswith(f"ok: {count}, "), result.stderr


def test_gitops_schema_copy_accepts_its_job_files() -> None:
    """The editor's view: the repository's copy of the schema accepts its own files.

    A GitOps repository regenerates its copy when it upgrades jobrunner, so the
    copy need not follow every change of schemas/jobfile.v1.json; it must stay
    a version 1 schema that an editor can use on these files.
    """
    gitops = EXAMPLES / "gitops"
    copy = json.loads((gitops / "jobfile.v1.json").read_text())
    Draft202012Validator.check_schema(copy)
    current = json.loads((ROOT / "schemas" / "jobfile.v1.json").read_text())
    assert copy["$id"] == current["$id"]
    validator = Draft202012Validator(copy)
    for path in sorted((gitops / "jobs.d").rglob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path


# -- the example plugin ------------------------------------------------------


@pytest.fixture(scope="module")
def chat() -> ModuleType:
    """The example plugin's module, imported from its file as a reader would."""
    spec = importlib.util.spec_from_file_location(
        "jobrunner_chat", PLUGIN_PACKAGE / "jobrunner_chat.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plugin_entry_point_names_the_class(chat: ModuleType) -> None:
    project = tomllib.loads((PLUGIN_PACKAGE / "pyproject.toml").read_text())["project"]
    points = project["entry-points"]["jobrunner.plugins"]
    assert points == {"chat": "jobrunner_chat:ChatMessage"}
    cls = chat.ChatMessage
    assert issubclass(cls, Plugin)
    assert cls.name == "chat"
    Draft202012Validator.check_schema(dict(cls.params_schema))


def _assemble(registry: Registry, **files: str) -> list[tuple[str, str, str]]:
    texts: dict[str, bytes | OSError] = {name: text.encode() for name, text in files.items()}
    loaded = config.assemble(texts, config.Options(), now=NOW, registry=registry)
    return [(p.path, p.code, p.severity.value) for p in loaded.problems]


def test_plugin_params_are_checked_in_a_registry(chat: ModuleType) -> None:
    registry = Registry(plugins={"chat": chat.ChatMessage})
    good = (PLUGIN_PACKAGE / "jobs.d" / "alerts.yaml").read_text()
    assert _assemble(registry, **{"alerts.yaml": good}) == []

    bad = """\
version: 1
queues:
  a:
    handler: chat
    params: {webhook: "https://hooks.example.com/T0/B0/x", text: "down: {service"}
  b:
    handler: chat
    params: {webhook: "ftp://hooks.example.com/x", text: "{a b}", colour: red}
  c:
    handler: chat
    params: {webhook: "${env:HOOK}"}
"""
    assert _assemble(registry, **{"bad.yaml": bad}) == [
        ("queues.a.params.webhook", "chat-params", "warning"),
        ("queues.a.params.text", "chat-params", "error"),
        ("queues.b.params.webhook", "chat-params", "error"),
        ("queues.b.params.webhook", "chat-params", "warning"),
        ("queues.b.params.text", "chat-params", "error"),
        ("queues.b.params.colour", "unknown-key", "error"),
        ("queues.c.params", "missing-key", "error"),
    ]


def test_plugin_is_unknown_without_the_registry_entry(chat: ModuleType) -> None:
    good = (PLUGIN_PACKAGE / "jobs.d" / "alerts.yaml").read_text()
    problems = _assemble(Registry(), **{"alerts.yaml": good})
    assert {code for _, code, _ in problems} == {"plugin"}


class _Webhook(BaseHTTPRequestHandler):
    """Answers with the status code named by the request path: POST /429 → 429."""

    received: ClassVar[list[tuple[str, dict[str, Any], str | None]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body, self.headers.get("Idempotency-Key")))
        status = int(self.path.strip("/"))
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Webhook.received.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _ctx(key: str | None = None) -> JobContext:
    return JobContext("job-1", "alerts", 1, time.monotonic() + 5, idempotency_key=key)


def test_plugin_run_reports_what_a_retry_can_do(chat: ModuleType, webhook: str) -> None:
    def plugin(status: int) -> Plugin:
        params = {"webhook": f"{webhook}/{status}", "text": "[{severity}] {service}"}
        return chat.ChatMessage({**params, "username": "jobrunner"})

    payload = {"severity": "critical", "service": "db"}
    assert plugin(200).run(_ctx("k-1"), payload) == {"status": 200}
    assert _Webhook.received == [
        ("/200", {"text": "[critical] db", "username": "jobrunner"}, "k-1")
    ]
    with pytest.raises(RetryLater) as later:
        plugin(429).run(_ctx(), payload)
    assert later.value.delay == 7
    with pytest.raises(PermanentError):
        plugin(404).run(_ctx(), payload)
    with pytest.raises(RuntimeError, match="500"):
        plugin(500).run(_ctx(), payload)
    with pytest.raises(PermanentError, match="service"):
        plugin(200).run(_ctx(), {"severity": "info"})


# -- the pre-commit hook -----------------------------------------------------


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    (hook,) = [h for h in hooks if h.get("id") == "jobrunner-validate"]
    assert isinstance(hook, dict)
    return hook


def test_pre_commit_hook_names_the_console_script() -> None:
    hook = _hook()
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python"
    command, *args = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command in scripts
    assert args == ["validate"]


def test_pre_commit_hook_runs_on_the_jobs_directory() -> None:
    hook = _hook()
    assert hook["pass_filenames"] is False  # names and references span files
    files = re.compile(hook["files"])
    assert files.search("jobs.d/email.yaml")
    assert files.search("jobs.d/ops/backup.yml")
    assert not files.search("README.md")
    assert not files.search("examples/gitops/jobs.d/email.yaml")
    result = run_cli(*shlex.split(hook["entry"])[1:], *hook["args"], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitops_example_uses_the_hook() -> None:
    configured = yaml.safe_load((EXAMPLES / "gitops" / ".pre-commit-config.yaml").read_text())
    ids = [hook["id"] for repo in configured["repos"] for hook in repo["hooks"]]
    assert ids == ["jobrunner-validate"]


# -- the documentation -------------------------------------------------------


def _yaml_blocks() -> list[tuple[str, str]]:
    """(`file:line`, text) of each ```yaml block whose first line of data is `version: 1`."""
    blocks = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"^```yaml\n(.*?)^```", text, re.M | re.S):
            body = match.group(1)
            data = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
            if data and data[0] == "version: 1":
                line = text.count("\n", 0, match.start()) + 2
                blocks.append((f"{doc.relative_to(ROOT)}:{line}", body))
    return blocks


def test_docs_have_yaml_examples() -> None:
    places = {where.split(":")[0] for where, _ in _yaml_blocks()}
    assert {"README.md", "docs/jobfile.md", "docs/plugins.md"} <= places


@pytest.mark.parametrize(("where", "body"), _yaml_blocks(), ids=[w for w, _ in _yaml_blocks()])
def test_docs_yaml_examples_validate(where: str, body: str) -> None:
    texts: dict[str, bytes | OSError] = {where: body.encode()}
    loaded = config.assemble(texts, config.Options(strict=True), now=NOW, registry=discover())
    shown = [f"{p.path}: {p.message}" for p in loaded.problems]
    assert not [p for p in loaded.problems if p.severity is Severity.ERROR], shown


def test_docs_relative_links_resolve() -> None:
    broken = []
    for doc in [*DOCS, *EXAMPLES.rglob("README.md")]:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if path and not re.match(r"^[a-z]+:", path) and not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []
