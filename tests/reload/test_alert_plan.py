"""Alerts in the content hash and the plan: a change of what is routed where is a new
generation and a line of the plan; the alerts a daemon uses are those in force."""

from __future__ import annotations

from datetime import UTC, datetime

from jobrunner.config import Options, assemble
from jobrunner.config.model import Config
from jobrunner.registry import discover
from jobrunner.reload import publish
from jobrunner.reload.plan import plan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUEUES = (
    "version: 1\nqueues:\n"
    "  notify: {handler: shell, params: {command: [/bin/true]}}\n"
    "  pager: {handler: shell, params: {command: [/bin/true]}}\n"
)
ON_CALL = "version: 1\nalerts:\n  on-call: {events: [job.dead], queue: notify}\n"


def config(*texts: str) -> Config:
    loaded = assemble(
        {f"{i}.yaml": t.encode() for i, t in enumerate(texts)},
        Options(),
        now=NOW,
        registry=discover(),
    )
    assert loaded.ok, loaded.problems
    return loaded.config


def changes(old: Config, new: Config) -> list[str]:
    routed = (publish.alerts(old), publish.alerts(new))
    return [str(c) for c in plan(publish.view(old, 1), publish.view(new, 0), alerts=routed).changes]


def test_the_hash_counts_alerts_and_is_unchanged_without_them() -> None:
    base = publish.content_hash(config(QUEUES, ON_CALL))
    assert base != publish.content_hash(config(QUEUES))
    assert base != publish.content_hash(config(QUEUES, ON_CALL.replace("notify", "pager")))
    assert publish.content_hash(config(QUEUES)) == publish.content_hash(
        Config(queues=config(QUEUES).queues, files=("0.yaml",))
    )


def test_the_plan_names_added_changed_and_removed_alerts() -> None:
    none, one = config(QUEUES), config(QUEUES, ON_CALL)
    assert changes(none, one) == ["+ alert on-call"]
    moved = config(QUEUES, ON_CALL.replace("queue: notify", "queue: pager, throttle: 1m"))
    assert changes(one, moved) == ["~ alert on-call: queue notify → pager, throttle 5m → 1m"]
    assert changes(one, none) == ["- alert on-call"]
