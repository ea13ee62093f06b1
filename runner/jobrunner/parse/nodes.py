"""Where a document's values were written: paths, positions, and refusals.

`reader` reads a job file into plain data and two tables, the position of
every value and of every key, by path: `("cron", "nightly", "params",
"command", 0)` is `cron.nightly.params.command[0]`. A node it will not turn
into data is `Refused`, with its place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_ALIAS_NODES = 50_000
MAX_DEPTH = 100  # levels of nesting; a job file needs fewer than ten
TOO_DEEP = (
    f"the data nests deeper than {MAX_DEPTH} levels",
    "a job file needs a few levels of nesting: flatten the data",
)

Key = str | int
Path = tuple[Key, ...]
Position = tuple[int, int]  # 1-based line and column


class Refused(Exception):
    """A node the reader will not turn into data: where it was written, at which path, and why."""

    def __init__(
        self, position: Position, code: str, message: str, hint: str = "", path: Path = ()
    ) -> None:
        super().__init__(message)
        self.position, self.path = position, path
        self.code, self.message, self.hint = code, message, hint


@dataclass(frozen=True, slots=True)
class Read:
    """A document's plain value, and where each of its values and keys was written."""

    data: Any
    values: dict[Path, Position]
    keys: dict[Path, Position]
