"""Secrets the HTTP server reads through the references job files give (access tokens,
webhook secrets), at request time.

Each is read when first needed and again every `REFRESH` seconds, so a rotated secret
file takes over without a restart or a reload. An entry whose reference does not resolve
is logged once, by name and file:line (never the value), and has no secret until it does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from jobrunner.config.model import Source
from jobrunner.logs import event

REFRESH = 5.0  # seconds a secret read is reused before its reference is read again


class Entry(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> Source: ...


E = TypeVar("E", bound=Entry)
V = TypeVar("V")


def read_text(path: str) -> str:
    """A secret file's text, without its trailing newline."""
    return Path(path).read_text(encoding="utf-8").strip()


def reason(exc: Exception) -> str:
    """Why a reference gives no secret, in words that never hold the secret's bytes."""
    return "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)


class Secrets(Generic[E, V]):
    def __init__(
        self,
        read: Callable[[E], V],
        unusable: str,
        clock: Callable[[], float],
        why: Callable[[Exception], str] = reason,
    ) -> None:
        """`read`: an entry's secret, raising LookupError, OSError or ValueError when its
        reference does not give one; `unusable`: what to log then; `why`: the reason
        logged for an error (never the value)."""
        self.read, self.unusable, self.clock, self.why = read, unusable, clock, why
        self._lock = threading.Lock()
        self._for: Mapping[str, E] | None = None  # the entries the secrets were read for
        self._secrets: dict[str, V] = {}
        self._read_at = -REFRESH
        self._logged: set[str] = set()  # entries logged as having no usable secret

    def of(self, entries: Mapping[str, E]) -> dict[str, V]:
        """The secret of each entry of `entries` that has a usable one, by name."""
        with self._lock:
            now = self.clock()
            if entries is not self._for or now - self._read_at >= REFRESH:
                self._secrets = {}
                for entry in entries.values():
                    try:
                        self._secrets[entry.name] = self.read(entry)
                    except (LookupError, OSError, ValueError) as exc:
                        self._log(entry, exc)
                    else:
                        self._logged.discard(entry.name)
                self._for, self._read_at = entries, now
            return self._secrets

    def _log(self, entry: E, exc: Exception) -> None:
        if entry.name in self._logged:
            return
        self._logged.add(entry.name)
        event(
            logging.ERROR,
            self.unusable,
            entry=entry.name,
            where=f"{entry.source.file}:{entry.source.line}",
            error=self.why(exc),
        )
