"""What changes between two configurations: a short readable plan, and what to do about it. Pure.

Works on published views (`Published`, storage/records.py), which carry a hash
of the params instead of the params, so the daemon (what it serves against
the new files) and `jobrunner plan` (the files on disk against what the
daemons published) share it. It prints as a diff:

    + cron nightly-report
    ~ queue emails: concurrency 5 → 10, params changed
    - cron old-cleanup
    ~ access on-call: scopes [read] → [operate, read]
    ~ webhook github-push: queue deploys → builds

and names what the runtime must do, so that what is logged is what is applied:
the lanes to stop and start (a lane is a queue, or a cron entry with a handler
of its own, served at the queue's concurrency), and the cron entries to add,
drop or re-plan from now (those whose schedule changed). Every other entry
keeps its state. Access entries are not in the published view (no token, nor
its reference, is stored): the daemon hands their names and scopes in
(`publish.access`), and the plan names them with their scopes only. Webhooks
likewise (`publish.webhooks`), without their secret, and alerts
(`publish.alerts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from jobrunner.storage.records import Entry, Published
from jobrunner.values import duration, size

Kind = Literal["queue", "cron", "access", "webhook", "alert"]
Sign = Literal["+", "-", "~"]
SECONDS = {
    "timeout",
    "delay",
    "max_delay",
    "dead_retain",
    "retain_completed",
    "ttl",
    "tolerance",
    "throttle",
    "backlog_age",
}
BYTES = {"max_payload", "memory_limit"}
IGNORED = {"source", "explain"}  # where an entry is written is not what it does
OPAQUE = {"params_hash": "params", "payload_schema": "payload_schema", "payload": "payload"}
WHEN = ("schedule", "timezone", "every", "at")  # a change to any of these re-plans the entry


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    name: str
    sign: Sign
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.sign} {self.kind} {self.name}"
        return f"{text}: {', '.join(self.details)}" if self.details else text


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...] = ()
    stop_lanes: frozenset[str] = frozenset()  # removed, or to restart at a new concurrency
    start_lanes: frozenset[str] = frozenset()  # added, or restarted at a new concurrency
    replan_crons: frozenset[str] = frozenset()  # kept entries whose schedule changed

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __str__(self) -> str:
        return "\n".join(map(str, self.changes)) if self.changes else "no changes"

    def names(self, kind: Kind, sign: Sign) -> frozenset[str]:
        return frozenset(c.name for c in self.changes if c.kind == kind and c.sign == sign)


def plan(
    old: Published | None,
    new: Published,
    access: tuple[Mapping[str, Entry], Mapping[str, Entry]] = ({}, {}),
    webhooks: tuple[Mapping[str, Entry], Mapping[str, Entry]] = ({}, {}),
    alerts: tuple[Mapping[str, Entry], Mapping[str, Entry]] = ({}, {}),
) -> Plan:
    """The changes that turn `old` into `new` (None: nothing was running).

    `access`, `webhooks` and `alerts` hold those entries before and after
    (`publish.access`, `publish.webhooks`, `publish.alerts`), which the published
    views leave out.
    """
    changes: list[Change] = []
    replan: set[str] = set()
    sections: tuple[tuple[Kind, Mapping[str, Entry], Mapping[str, Entry]], ...] = (
        ("queue", old.queues if old else {}, new.queues),
        ("cron", old.crons if old else {}, new.crons),
        ("access", *access),
        ("webhook", *webhooks),
        ("alert", *alerts),
    )
    for kind, before, after in sections:
        for name in sorted(set(before) | set(after)):
            if name not in before:
                changes.append(Change(kind, name, "+"))
            elif name not in after:
                changes.append(Change(kind, name, "-"))
            elif details := _differences(before[name], after[name]):
                changes.append(Change(kind, name, "~", details))
                if kind == "cron" and any(before[name].get(k) != after[name].get(k) for k in WHEN):
                    replan.add(name)
    was, now = lanes(old), lanes(new)
    restart = {name for name in was.keys() & now.keys() if was[name] != now[name]}
    return Plan(
        tuple(changes),
        stop_lanes=frozenset(was.keys() - now.keys() | restart),
        start_lanes=frozenset(now.keys() - was.keys() | restart),
        replan_crons=frozenset(replan),
    )


def lanes(view: Published | None) -> dict[str, int]:
    """The lanes of a view and the concurrency of each: queues, and crons with a handler."""
    if view is None:
        return {}
    found = {name: int(q.get("concurrency", 1)) for name, q in view.queues.items()}
    found.update({name: 1 for name, c in view.crons.items() if "handler" in c})
    return found


def _differences(before: Entry, after: Entry) -> tuple[str, ...]:
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
    if key in BYTES and isinstance(value, int):
        return size.format(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return f"[{', '.join(map(str, value))}]"
    return str(value)
