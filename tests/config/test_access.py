"""The `access:` section: what the model holds, and resolving a token at use time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobrunner.config import Options, assemble
from jobrunner.config.access import resolve_token
from jobrunner.config.model import Access, Config, Source
from jobrunner.registry import discover
from jobrunner.values.refs import Ref

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUEUES = "version: 1\nqueues:\n  deploys: {handler: shell, params: {command: [/bin/true]}}\n"
ACCESS = """version: 1
access:
  ci-deployer: {token: "${env:DEPLOY_TOKEN}", scopes: [enqueue:deploys]}
  on-call:
    token: "${file:/run/secrets/oncall}"
    scopes: [read, operate, operat]
"""


def load(texts: dict[str, str]) -> tuple[Config, list[str]]:
    loaded = assemble(
        {name: text.encode() for name, text in texts.items()},
        Options(),
        now=NOW,
        registry=discover(),
    )
    return loaded.config, [f"{p.file}:{p.line}:{p.column}: {p.message}" for p in loaded.problems]


def test_entries_reach_the_config_with_their_reference_scopes_and_source() -> None:
    config, problems = load({"q.yaml": QUEUES, "a.yaml": ACCESS.replace(", operat]", "]")})
    assert problems == []
    assert config.access == {
        "ci-deployer": Access(
            "ci-deployer",
            Ref("env", "DEPLOY_TOKEN"),
            frozenset({"enqueue:deploys"}),
            Source("a.yaml", 3, ("access", "ci-deployer")),
        ),
        "on-call": Access(
            "on-call",
            Ref("file", "/run/secrets/oncall"),
            frozenset({"read", "operate"}),
            Source("a.yaml", 4, ("access", "on-call")),
        ),
    }


def test_a_file_with_errors_keeps_its_entries_out_and_the_queue_is_found_across_files() -> None:
    config, problems = load({"q.yaml": QUEUES, "a.yaml": ACCESS})
    assert problems == [
        "a.yaml:6:29: unknown scope 'operat' (did you mean 'operate'?)",
    ]
    assert config.access == {} and set(config.queues) == {"deploys"}


def test_a_plain_token_is_never_repeated_in_a_problem() -> None:
    text = "version: 1\naccess:\n  x: {token: hunter2hunter2, scopes: [x]}\n"
    _, problems = load({"a.yaml": text})
    assert len(problems) == 2  # the token, and the unknown scope: every mistake at once
    assert not any("hunter2" in p for p in problems)


def test_allows_reads_enqueue_as_every_queue() -> None:
    entry = Access("a", Ref("env", "T"), frozenset({"read", "enqueue"}), Source("f", 1, ()))
    assert entry.allows("read") and entry.allows("enqueue:deploys")
    assert not entry.allows("operate")
    one = Access("b", Ref("env", "T"), frozenset({"enqueue:deploys"}), Source("f", 1, ()))
    assert one.allows("enqueue:deploys") and not one.allows("enqueue:other")
    assert not one.allows("enqueue") and not one.allows("read")


def test_repr_shows_neither_token_nor_reference() -> None:
    entry = Access("a", Ref("env", "DEPLOY_TOKEN"), frozenset({"read"}), Source("f", 1, ()))
    assert "DEPLOY_TOKEN" not in repr(entry)


def no_files(path: str) -> str:
    raise FileNotFoundError(2, "No such file or directory")


def test_resolve_token_reads_the_environment_or_a_file_at_use_time(tmp_path: Path) -> None:
    env = Access("a", Ref("env", "DEPLOY_TOKEN"), frozenset({"read"}), Source("f", 1, ()))
    assert resolve_token(env, {"DEPLOY_TOKEN": "s3cret"}, no_files) == "s3cret"
    secret = tmp_path / "oncall"
    secret.write_text("t0ken\n")
    file = Access("b", Ref("file", str(secret)), frozenset({"read"}), Source("f", 1, ()))
    assert resolve_token(file, {}, lambda p: Path(p).read_text()) == "t0ken"


@pytest.mark.parametrize(
    ("ref", "environ", "message"),
    [
        (Ref("env", "DEPLOY_TOKEN"), {}, "environment variable DEPLOY_TOKEN is not set"),
        (Ref("env", "DEPLOY_TOKEN"), {"DEPLOY_TOKEN": ""}, "DEPLOY_TOKEN is empty"),
        (Ref("file", "/run/secrets/x"), {}, "cannot read /run/secrets/x"),
    ],
)
def test_resolve_token_raises_lookup_error(ref: Ref, environ: dict[str, str], message: str) -> None:
    entry = Access("a", ref, frozenset({"read"}), Source("f", 1, ()))
    with pytest.raises(LookupError, match=message):
        resolve_token(entry, environ, no_files)
