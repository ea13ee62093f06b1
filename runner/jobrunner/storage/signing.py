"""Signed shared state: whoever can write the storage must not be able to run code.

With a signing key, every message and every stored value (the published
configuration, the last good job files, cron state, problems) is stored as
`jrsig1:<HMAC-SHA256, base64url>.<the bytes>`, and read back only when the
HMAC matches a key in use. A message that does not is dead-lettered with the
reason, never run; a value that does not reads as never written, so the job
files on disk (or nothing) win over an injected copy.

Keys come from `JOBRUNNER_SIGNING_KEY` (one key, or several separated by
commas) or the file named by `JOBRUNNER_SIGNING_KEY_FILE` (one key a line);
the first key signs, every key listed is accepted, so a key is rotated by
listing the new one first and dropping the old one once every daemon and
producer has the new one. Each key is at least 16 characters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobrunner.job import Record
from jobrunner.logs import event

PREFIX = b"jrsig1:"
REFUSED = "refused: the message is "  # the reason a refused message is buried with
MIN_KEY = 16
ENV_KEY, ENV_FILE = "JOBRUNNER_SIGNING_KEY", "JOBRUNNER_SIGNING_KEY_FILE"
_warned: set[str] = set()


class Forged(ValueError):
    """Stored bytes that are not signed with a key in use."""


class BadKey(ValueError):
    """A signing key that cannot be used: too short, or an unreadable key file."""


@dataclass(frozen=True)
class Keys:
    sign: bytes
    accept: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str, where: str) -> Keys:
        keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
        if not keys:
            raise BadKey(f"{where} holds no signing key")
        short = [n for n, k in enumerate(keys, 1) if len(k) < MIN_KEY]
        if short:
            raise BadKey(
                f"signing key {short[0]} of {where} is shorter than {MIN_KEY} characters: "
                "use a long random value (for example `openssl rand -hex 32`)"
            )
        encoded = tuple(k.encode() for k in keys)
        return cls(encoded[0], encoded)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Keys | None:
        """The keys the environment names, or None when it names none."""
        if environ.get(ENV_KEY):
            return cls.parse(environ[ENV_KEY], ENV_KEY)
        if environ.get(ENV_FILE):
            return cls.from_file(Path(environ[ENV_FILE]))
        return None

    @classmethod
    def from_file(cls, path: Path) -> Keys:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadKey(f"cannot read the signing key file {path}: {exc}") from None
        return cls.parse(text, str(path))

    def seal(self, data: bytes) -> bytes:
        return PREFIX + _mac(self.sign, data) + b"." + data

    def open(self, data: bytes) -> bytes:
        """The signed bytes, or `Forged` saying why they are refused."""
        if not data.startswith(PREFIX):
            raise Forged("not signed (a signing key is in use here)")
        mac, dot, body = data[len(PREFIX) :].partition(b".")
        if not dot or not any(hmac.compare_digest(mac, _mac(k, body)) for k in self.accept):
            raise Forged("signed with a key not in use here, or altered after signing")
        return body


def _mac(key: bytes, data: bytes) -> bytes:
    digest = hmac.new(key, data, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=")


def seal(keys: Keys | None, data: bytes) -> bytes:
    """`data` as it is stored: signed when there are keys."""
    return data if keys is None else keys.seal(data)


def unseal(keys: Keys | None, data: bytes) -> tuple[bytes, str]:
    """The message in stored `data`, and "" or why it is refused (then `data` as it was)."""
    if keys is None:
        return data, ""
    try:
        return keys.open(data), ""
    except Forged as exc:
        return data, f"{REFUSED}{exc}"


def peek(data: bytes) -> bytes:
    """Stored bytes without their signature, unchecked: for showing a message, never running it."""
    if not data.startswith(PREFIX):
        return data
    return data[len(PREFIX) :].partition(b".")[2]


def refused_message(record: Record) -> bool:
    """A dead job that is a refused message: replaying it would sign what nobody signed."""
    return record.reason.startswith(REFUSED)


def dump_value(keys: Keys | None, value: Any) -> str:
    """A JSON value as it is stored."""
    text = json.dumps(value)
    return text if keys is None else keys.seal(text.encode()).decode()


def load_value(keys: Keys | None, raw: bytes | str, what: str) -> Any:
    """A stored JSON value; None (logged once) when it is not signed with a key in use."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    if keys is not None:
        try:
            data = keys.open(data)
        except Forged as exc:
            if what not in _warned:
                _warned.add(what)
                event(logging.ERROR, f"ignored the stored {what}: it is {exc}")
            return None
    return json.loads(data)
