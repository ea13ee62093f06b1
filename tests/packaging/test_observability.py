"""packaging/observability: the Grafana dashboard and the alert rules query what jobrunner exports.

promtool parses every query of the dashboard (as recording rules), and every metric name a
query or an alert names must be one that `jobrunner.metrics` or the web role's cluster
collector exports: a misspelt name is valid PromQL that draws an empty panel forever.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import tool

from jobrunner.metrics import REGISTRY
from jobrunner.storage import open_storage
from jobrunner.web.cluster import Cluster

OBSERVABILITY = Path(__file__).resolve().parents[2] / "packaging" / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
ALERTS = OBSERVABILITY / "alerts.yml"

# The series names a metric family of each type shows in a scrape. No `_created`:
# jobrunner.metrics calls disable_created_metrics(), and the cluster gauges have none.
SERIES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}
# Words of PromQL that look like metric names once strings and label lists are gone.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
BRACED = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")
LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
IDENTIFIER = re.compile(r"(?<![\w:.])[A-Za-z_:][\w:]*(?![\w:]|\s*\()")  # not a function


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    bare = STRING.sub('""', expr)
    bare = LABEL_LIST.sub(" ", bare)
    while BRACED.search(bare):
        bare = BRACED.sub(" ", bare)
    return {name for name in IDENTIFIER.findall(bare) if name.lower() not in KEYWORDS}


def as_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables filled in, as Prometheus would receive it."""
    filled = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # $__rate_interval, $__range, $__interval
    filled = re.sub(r"\$\{?queue(?::\w+)?\}?", ".*", filled)  # All queues
    assert "$" not in filled, f"an unknown Grafana variable in {expr!r}"
    return filled


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return found


def queries() -> list[tuple[str, str]]:
    """(where, expr) of every query the dashboard sends to Prometheus."""
    return [
        (f"panel {panel['id']} {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    ]


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [
        (f"alert {rule['alert']}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The series names jobrunner exports: each daemon's registry and the web role's gauges."""
    storage = open_storage(f"sqlite:///{tmp_path_factory.mktemp('storage') / 's.db'}")
    try:
        cluster = list(Cluster(storage).collect())
    finally:
        storage.close()
    up = next(family for family in cluster if family.name == "jobrunner_storage_up")
    assert up.samples[0].value == 1, "the storage could not be read: only storage_up was collected"
    return {
        family.name + suffix
        for family in [*REGISTRY.collect(), *cluster]
        for suffix in SERIES[family.type]
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (queue, le) (rate(a_bucket{queue=~"x|b_c", le!="1"}[5m])) / ignoring(q) c',
            {"a_bucket", "c"},
        ),
        ("a offset 15m > 0 and on (x) b", {"a", "b"}),
        ("histogram_quantile(0.99, sum without (pod) (rate(x[$__rate_interval])))", {"x"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
    ],
)
def test_metric_names_finds_the_selectors_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_dashboard_is_laid_out_for_humans() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["queue"]["query"] == "label_values(jobrunner_queue_jobs, queue)"
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique (and stable)"
    taken: set[tuple[int, int]] = set()
    for panel in panels():
        where = f"panel {panel['id']} {panel['title']!r}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, where
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{where} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["targets"] and panel.get("description"), where
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs)), where


def test_promtool_parses_every_query_of_the_dashboard(tmp_path: Path) -> None:
    promtool = tool("promtool")
    rules = [
        {"record": f"test:expr_{n}", "expr": as_promql(expr)}
        for n, (_, expr) in enumerate(queries())
    ]
    assert rules, "the dashboard has no queries"
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True
    )
    numbered = "\n".join(f"test:expr_{n}: {where}" for n, (where, _) in enumerate(queries()))
    assert checked.returncode == 0, checked.stdout + checked.stderr + numbered


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_queried_is_one_jobrunner_exports(source: str, exported: set[str]) -> None:
    found = queries() if source == "dashboard" else alert_queries()
    if source == "dashboard":
        variable = dashboard()["templating"]["list"]
        found += [
            (f"variable {v['name']}", re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["query"]))
            for v in variable
            if v["type"] == "query"
        ]
    unknown = {
        f"{where}: {name}"
        for where, expr in found
        for name in metric_names(expr)
        if name not in exported
    }
    assert not unknown, f"metrics jobrunner does not export: {sorted(unknown)}"
    assert all(metric_names(expr) for _, expr in found), "a query that selects no metric"
