"""A real Prometheus scrapes real daemons; promtool checks the metrics and the alert rules."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from daemon_proc import Daemon, wait_until
from servers import free_port, tool
from test_http_daemon import enqueue, get, jobs

from jobrunner.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "packaging" / "observability"


def test_the_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    promtool = tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts-test.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_finds_nothing_to_say_about_the_metrics(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    promtool = tool("promtool")
    worker, web = free_port(), free_port()
    root = jobs(tmp_path)
    daemons(root, url, "--http", str(worker))
    daemons(root, url, "--role", "web", "--http", str(web))
    enqueue(store)
    for port in (worker, web):
        text = get(port, "/metrics")[2]
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout


def test_prometheus_scrapes_the_job_counts_the_test_produced(
    url: str, store: Storage, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    prometheus = tool("prometheus")
    worker, web, port = free_port(), free_port(), free_port()
    root = jobs(tmp_path)
    daemons(root, url, "--http", str(worker))
    daemons(root, url, "--role", "web", "--http", str(web))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: jobrunner\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{worker}', '127.0.0.1:{web}']}}]\n"
    )
    with open(tmp_path / "prometheus.log", "wb") as log:
        _scrape(prometheus, config, port, store, log)


def _scrape(prometheus: str, config: Path, port: int, store: Storage, log: IO[bytes]) -> None:
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={config.parent / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        for _ in range(7):
            enqueue(store)

        def value(query: str) -> float | None:
            address = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
                {"query": query}
            )
            try:
                with urllib.request.urlopen(address, timeout=5) as answer:
                    result = json.load(answer)["data"]["result"]
            except OSError:
                return None
            return float(result[0]["value"][1]) if result else None

        succeeded = 'sum(jobrunner_jobs_total{queue="work",outcome="succeeded"})'
        wait_until(lambda: value(succeeded) == 7, what="Prometheus sees 7 jobs", timeout=60)
        both = 'count(up{job="jobrunner"} == 1)'  # each target is first scraped at its own offset
        wait_until(lambda: value(both) == 2, what="Prometheus scrapes both daemons", timeout=30)
        assert value('jobrunner_queue_jobs{queue="work",state="ready"}') == 0
        assert value('jobrunner_queue_workers{queue="work"}') == 1
        assert value('sum(jobrunner_daemons{role="all"})') == 1
    finally:
        server.terminate()
        server.wait(10)
