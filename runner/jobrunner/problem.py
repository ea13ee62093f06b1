"""Diagnostics as data: every mistake found in a job file is a `Problem` with a place."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One finding: where it is, what is wrong, and what to do about it.

    `path` is the dotted path inside the document (`cron.nightly.timezone`);
    `code` is a short stable identifier (`timezone`, `unknown-key`) that
    scripts and suppressions can rely on.
    """

    file: str
    line: int
    column: int
    path: str
    severity: Severity
    code: str
    message: str
    hint: str = ""

    def as_error(self) -> Problem:
        return replace(self, severity=Severity.ERROR)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity is Severity.ERROR for p in problems)
