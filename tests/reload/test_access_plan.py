"""Access entries in the published view and the plan: names and scopes, never a token.

A token, or even its reference, must not reach the storage or the logs; a
change of scopes is a change in the plan, and a new generation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobrunner.config import Options, assemble
from jobrunner.config.model import Config
from jobrunner.registry import discover
from jobrunner.reload import publish
from jobrunner.reload.apply import Runtime
from jobrunner.reload.cycle import Reloader
from jobrunner.reload.in_force import InForce
from jobrunner.reload.plan import plan
from jobrunner.storage import Storage, open_storage, records

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUEUE = "version: 1\nqueues:\n  deploys: {handler: shell, params: {command: [/bin/true]}}\n"


def access(entries: str) -> str:
    return f"version: 1\naccess:\n{entries}"


ON_CALL = access('  on-call: {token: "${env:ONCALL_TOKEN}", scopes: [read]}\n')


def config(*texts: str) -> Config:
    loaded = assemble(
        {f"{i}.yaml": t.encode() for i, t in enumerate(texts)},
        Options(),
        now=NOW,
        registry=discover(),
    )
    assert loaded.ok, loaded.problems
    return loaded.config


def test_the_published_view_holds_no_access_entry_nor_reference() -> None:
    view = publish.view(config(QUEUE, ON_CALL), 1)
    text = json.dumps(view.as_dict())
    assert "on-call" not in text and "ONCALL_TOKEN" not in text


def test_the_hash_counts_scopes_only_and_is_unchanged_without_access() -> None:
    assert publish.content_hash(config(QUEUE)) == publish.content_hash(Config(**_no_access(QUEUE)))
    base = publish.content_hash(config(QUEUE, ON_CALL))
    assert base != publish.content_hash(config(QUEUE))
    assert base != publish.content_hash(config(QUEUE, ON_CALL.replace("[read]", "[operate]")))
    assert base == publish.content_hash(config(QUEUE, ON_CALL.replace("ONCALL", "PAGER")))


def _no_access(text: str) -> dict[str, object]:
    loaded = config(text)
    return {"queues": loaded.queues, "crons": loaded.crons, "files": loaded.files}


def changes(before: Config, after: Config) -> str:
    sides = (publish.access(before), publish.access(after))
    return str(plan(publish.view(before, 0), publish.view(after, 0), sides))


def test_added_changed_and_removed_entries_are_planned_by_name_and_scopes() -> None:
    one = config(QUEUE, ON_CALL)
    two = config(
        QUEUE,
        access(
            '  on-call: {token: "${env:PAGER_TOKEN}", scopes: [read, operate]}\n'
            '  ci-deployer: {token: "${env:DEPLOY_TOKEN}", scopes: [enqueue:deploys]}\n'
        ),
    )
    assert changes(one, one) == "no changes"
    assert changes(one, two) == (
        "+ access ci-deployer\n~ access on-call: scopes [read] → [operate, read]"
    )
    assert changes(two, config(QUEUE)) == "- access ci-deployer\n- access on-call"
    assert "TOKEN" not in changes(one, two) + changes(two, one)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    storage = open_storage(f"sqlite:///{tmp_path / 'state.db'}")
    yield storage
    storage.close()


def test_a_reload_applies_scopes_and_stores_no_reference(tmp_path: Path, store: Storage) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "queue.yaml").write_text(QUEUE)
    (jobs / "access.yaml").write_text(ON_CALL)
    r = Reloader(store, discover(), jobs, InForce(), Runtime(None, None), lambda: NOW)
    first = r.reload()
    assert first is not None and str(first) == "+ queue deploys\n+ access on-call"
    (jobs / "access.yaml").write_text(ON_CALL.replace("[read]", "[read, operate]"))
    second = r.reload()
    assert second is not None and str(second) == "~ access on-call: scopes [read] → [operate, read]"
    assert r.in_force.generation == 2
    assert r.in_force.config.access["on-call"].scopes == {"read", "operate"}
    stored = json.dumps([store.published(), store.get_value(records.PROBLEMS_KEY)])
    assert "ONCALL_TOKEN" not in stored and "on-call" not in stored
