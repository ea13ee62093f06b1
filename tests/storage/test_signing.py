"""Signed shared state, on every backend: with a key, only what a key in use signed is run
or read; an unsigned or forged message goes to the dead-letter queue, never to a handler."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from garbage import inject_garbage, overwrite_value

from jobrunner.job import Job, Record, State, Unreadable, decode, new_id
from jobrunner.storage import Storage, StorageError, open_storage
from jobrunner.storage.signing import PREFIX, BadKey, Keys

NEW, OLD = "n" * 24, "o" * 24


@pytest.fixture
def signed(url: str) -> Iterator[Storage]:
    storage = open_storage(url, Keys.parse(NEW, "test"))
    yield storage
    storage.close()


def job() -> Job:
    return Job(id=new_id(), queue="q", payload={"n": 1}, created=time.time())


def test_signed_messages_round_trip_and_are_stored_signed(signed: Storage, url: str) -> None:
    j = job()
    signed.enqueue(j)
    unsigned = open_storage(url, from_environment=False)
    try:
        assert unsigned.stats()["q"].ready == 1
    finally:
        unsigned.close()
    [lease] = signed.lease("q", "d", count=1, lease_for=30)
    assert lease.refused == "" and decode(lease.raw) == j


def test_an_unsigned_message_is_refused_with_the_reason(signed: Storage, url: str) -> None:
    forged = job()
    inject_garbage(url, "q", forged.encode())  # a valid job, written past the storage
    [lease] = signed.lease("q", "d", count=1, lease_for=30)
    assert lease.refused.startswith("refused: the message is not signed")
    dead = Record(forged, State.DEAD, reason=lease.refused, updated=time.time())
    assert signed.bury(lease, dead, keep_for=60)
    assert not signed.replay(forged.id)  # replaying it would sign what nobody signed


def test_a_message_signed_with_another_key_is_refused(url: str) -> None:
    other = open_storage(url, Keys.parse("x" * 24, "test"))
    mine = open_storage(url, Keys.parse(NEW, "test"))
    try:
        other.enqueue(job())
        [lease] = mine.lease("q", "d", count=1, lease_for=30)
        assert "key not in use here" in lease.refused
        with pytest.raises(Unreadable):
            decode(lease.raw)  # what is refused is not even a job as it stands
    finally:
        other.close()
        mine.close()


def test_values_unsigned_or_forged_read_as_never_written(signed: Storage, url: str) -> None:
    signed.set_value("cron:tick", {"last": 1.0})
    assert signed.get_value("cron:tick") == {"last": 1.0}
    overwrite_value(url, "cron:tick", json.dumps({"last": 2.0}).encode())
    overwrite_value(url, "config", json.dumps({"generation": 9, "queues": {}}).encode())
    assert signed.get_value("cron:tick") is None
    assert signed.published() is None


def test_rotation_accepts_the_old_key_while_signing_with_the_new(url: str) -> None:
    old = open_storage(url, Keys.parse(OLD, "test"))
    both = open_storage(url, Keys.parse(f"{NEW},{OLD}", "test"))
    new = open_storage(url, Keys.parse(NEW, "test"))
    try:
        old.set_value("v", 1)
        old.enqueue(job())
        assert both.get_value("v") == 1
        [lease] = both.lease("q", "d", count=1, lease_for=30)
        assert lease.refused == ""
        both.set_value("v", 2)
        assert new.get_value("v") == 2  # written with the new key
        assert old.get_value("v") is None  # the old key alone no longer reads it
    finally:
        for storage in (old, both, new):
            storage.close()


def test_keys_come_from_the_environment_and_must_be_long() -> None:
    keys = Keys.from_environment({"JOBRUNNER_SIGNING_KEY": f"{NEW}, {OLD}"})
    assert keys is not None and keys.sign == NEW.encode() and len(keys.accept) == 2
    assert keys.seal(b"x").startswith(PREFIX)
    assert Keys.from_environment({}) is None
    with pytest.raises(BadKey, match="shorter than 16"):
        Keys.parse("short", "JOBRUNNER_SIGNING_KEY")


def test_a_bad_key_in_the_environment_is_a_storage_error(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("JOBRUNNER_SIGNING_KEY", "short")
    with pytest.raises(StorageError, match="shorter than 16"):
        open_storage(url)
