"""What changed between two configurations, as a short readable plan. Pure.

Works on published documents (runner/published.py), so the daemon and
`jobrunner plan` (disk against what the daemons run) share it:

    + cron nightly-report
    ~ queue emails: concurrency 5 → 10, params changed
    - cron old-cleanup
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jobrunner.values import duration

SECONDS = {"timeout", "delay", "max_delay", "dead_retain", "retain_completed", "ttl"}
IGNORED = {"source", "explain"}  # where an entry is written is not what it does
OPAQUE = {"params_hash": "params", "payload_schema": "payload_schema", "payload": "payload"}


@dataclass(frozen=True)
class Change:
    kind: str  # "queue" | "cron"
    name: str
    sign: str  # "+" | "-" | "~"
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.sign} {self.kind} {self.name}"
        return f"{text}: {', '.join(self.details)}" if self.details else text


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __str__(self) -> str:
        return "\n".join(map(str, self.changes)) if self.changes else "no changes"

    def names(self, kind: str, sign: str) -> set[str]:
        return {c.name for c in self.changes if c.kind == kind and c.sign == sign}


def plan(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Plan:
    """The changes that turn `old` into `new` (None: nothing was running)."""
    old = old or {}
    changes: list[Change] = []
    for kind, section in (("queue", "queues"), ("cron", "crons")):
        before, after = old.get(section, {}), new.get(section, {})
        for name in sorted(set(before) | set(after)):
            if name not in before:
                changes.append(Change(kind, name, "+"))
            elif name not in after:
                changes.append(Change(kind, name, "-"))
            else:
                details = _differences(before[name], after[name])
                if details:
                    changes.append(Change(kind, name, "~", details))
    return Plan(tuple(changes))


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for key in sorted(set(before) | set(after)):
        if key in IGNORED or before.get(key) == after.get(key):
            continue
        if key in OPAQUE:
            found.append(f"{OPAQUE[key]} changed")
        elif isinstance(before.get(key), Mapping) or isinstance(after.get(key), Mapping):
            inner = _differences(before.get(key) or {}, after.get(key) or {})
            found.extend(f"{key}.{detail}" for detail in inner)
        else:
            found.append(f"{key} {_show(key, before.get(key))} → {_show(key, after.get(key))}")
    return tuple(found)


def _show(key: str, value: Any) -> str:
    if value is None:
        return "none"
    if key in SECONDS and isinstance(value, int | float):
        return duration.format(timedelta(seconds=value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
