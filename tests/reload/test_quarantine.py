"""Quarantine with several files: keep a bad file's last good version and apply the others,
or refuse the whole change when the combination does not validate. Pure: texts in, verdicts out."""

from __future__ import annotations

from datetime import UTC, datetime

from jobrunner.registry import discover
from jobrunner.reload.quarantine import judge

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REGISTRY = discover()


def queue(name: str, concurrency: int = 1) -> bytes:
    return (
        f"version: 1\nqueues:\n  {name}:\n    handler: python\n"
        f"    params: {{callable: 'jobapp:record'}}\n    concurrency: {concurrency}\n"
    ).encode()


def cron_into(name: str, target: str) -> bytes:
    return f"version: 1\ncron:\n  {name}: {{every: 1h, queue: {target}}}\n".encode()


BROKEN = b"version: 1\nqueues:\n  billing: [not, a, mapping\n"
LAST_GOOD = {"a.yaml": queue("emails"), "b.yaml": queue("billing"), "c.yaml": queue("reports")}


def test_a_bad_file_keeps_its_last_good_version_while_the_others_apply() -> None:
    on_disk = {"a.yaml": queue("emails", 5), "b.yaml": BROKEN, "c.yaml": queue("reports")}
    verdict = judge(on_disk, LAST_GOOD, now=NOW, registry=REGISTRY)
    assert not verdict.refused
    assert verdict.quarantined == ("b.yaml",) and verdict.left_out == ()
    config = verdict.loaded.config
    assert config.queues["emails"].concurrency == 5  # a's change applies
    assert set(config.queues) == {"emails", "billing", "reports"}  # b's last good stays
    assert verdict.texts == {**on_disk, "b.yaml": LAST_GOOD["b.yaml"]}
    assert {p.file for p in verdict.problems} == {"b.yaml"}  # the file on disk, to fix
    assert "kept the last good version of b.yaml" in verdict.summary()


def test_a_change_that_clashes_with_the_bad_files_last_good_version_refuses_everything() -> None:
    """The operator moves queue `billing` from b to c and breaks b on the way: c on its own is
    fine, but with b's last good version in b's place `billing` is defined twice, so the files
    do not validate together and nothing changes."""
    on_disk = {"a.yaml": queue("emails", 5), "b.yaml": BROKEN, "c.yaml": queue("billing")}
    verdict = judge(on_disk, LAST_GOOD, now=NOW, registry=REGISTRY)
    assert verdict.refused
    assert verdict.quarantined == ("b.yaml",)
    assert {p.file for p in verdict.problems} == {"b.yaml"}  # c is fine on disk


def test_a_bad_new_file_is_left_out_and_the_rest_applies() -> None:
    on_disk = {**LAST_GOOD, "d.yaml": BROKEN}
    verdict = judge(on_disk, LAST_GOOD, now=NOW, registry=REGISTRY)
    assert not verdict.refused
    assert verdict.left_out == ("d.yaml",) and verdict.quarantined == ()
    assert "d.yaml" not in verdict.texts
    assert set(verdict.loaded.config.queues) == {"emails", "billing", "reports"}


def test_good_files_are_taken_as_they_are() -> None:
    on_disk = {**LAST_GOOD, "a.yaml": queue("emails", 3)}
    verdict = judge(on_disk, LAST_GOOD, now=NOW, registry=REGISTRY)
    assert (verdict.refused, verdict.quarantined, verdict.left_out) == (False, (), ())
    assert verdict.texts == on_disk and verdict.summary() == ""
