"""Layer two, per file: turn one document into model entries.

Here the values that JSON Schema only sees as strings get their meaning
(durations, cron expressions, time zones, times, rate limits, templates),
file-level `defaults:` are merged in, and the rules that tie keys of one
entry together are checked ("exactly one of schedule, every or at").

An entry with a mistake is still built as far as it can be, so that every
mistake of a file is reported at once, each once: a key whose value has the
wrong shape is left out (layer one reported it), a schedule that does not
parse is replaced by `NEVER`. Such a file has errors, so none of its entries
reach a `Config`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from jobrunner.config import access, alerts, limits, payload, policy, shape, webhooks
from jobrunner.config.model import (
    Access,
    Alert,
    Cron,
    Enqueue,
    Handler,
    Idempotency,
    Policy,
    Queue,
    Source,
    Webhook,
    freeze,
)
from jobrunner.config.schema import POLICY_KEYS
from jobrunner.job import MAX_PAYLOAD
from jobrunner.parse.document import Document, Path
from jobrunner.problem import Problem, Severity
from jobrunner.values import duration, rate, schedule, size, template, zones
from jobrunner.values.suggest import did_you_mean

T = TypeVar("T")

SCHEDULE_KEYS = ("schedule", "every", "at")
# Stands in for a schedule reported unusable: the entry's file has errors, so
# it never runs, but checks across files still see the entry's target.
NEVER = schedule.At(datetime.max.replace(tzinfo=UTC))
_CRON_FIELDS = (
    "fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, "
    "day of week 0-7 or SUN-SAT; with 6 fields, second 0-59 comes first; "
    "`jobrunner schedules` shows when it fires"
)
_WHEN_HINT = (
    '`schedule` takes a cron expression ("0 * * * *"), `every` a fixed interval (15m) '
    "and `at` one time (2026-12-01T09:00:00Z)"
)
_ZERO_TIMEOUT = (
    "a timeout of 0 would fail every attempt: expected a duration above 0",
    "remove it to use the default of 10m",
)
_RETRY_HINT = "raise max_delay to at least the delay, or lower the delay"
DEFAULT_IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass
class Built:
    queues: list[Queue] = field(default_factory=list)
    crons: list[Cron] = field(default_factory=list)
    access: list[Access] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def build(doc: Document, skip: set[Path]) -> Built:
    """Model entries of `doc`, and the problems found building them.

    An entry under a path in `skip` has shape errors: it is built from its
    keys whose values have the right shape, so that the checks across files
    still see its name, handler and params. Its file has errors, so it never
    reaches a `Config`.
    """
    out = Built()
    if not isinstance(doc.data, dict):
        return out
    defaults = _defaults(doc, any(path[:1] == ("defaults",) for path in skip), out.problems)
    file = _File(doc, defaults, policy.merge({}, defaults), out.problems)
    for section, kind in (("queues", "queue"), ("cron", "cron")):
        entries = doc.data.get(section)
        for name, given in entries.items() if isinstance(entries, dict) else ():
            if not isinstance(given, dict):
                continue
            path = (section, name)
            raw = shape.usable(given, kind) if path in skip else given
            entry = _Entry(file, path, given, raw)
            if kind == "queue" and (queue := entry.queue()):
                out.queues.append(queue)
            elif kind == "cron" and (cron := entry.cron()):
                out.crons.append(cron)
    out.access += _section(doc, skip, "access", "access", access.build, out)
    out.webhooks += _section(doc, skip, "webhooks", "webhook", webhooks.build, out)
    out.alerts += _section(doc, skip, "alerts", "alert", alerts.build, out)
    return out


def _section(
    doc: Document,
    skip: set[Path],
    section: str,
    kind: str,
    build: Callable[[Document, Path, Mapping[str, Any]], tuple[T | None, list[Problem]]],
    out: Built,
) -> list[T]:
    """The entries of the file's `section` (`access:`, `webhooks:`, `alerts:`), each built
    by `build`; its problems go to `out`. `kind` names an entry's keys for `shape.usable`."""
    built: list[T] = []
    entries = doc.data.get(section)
    for name, given in entries.items() if isinstance(entries, dict) else ():
        if not isinstance(given, dict):
            continue
        path = (section, name)
        entry, problems = build(doc, path, shape.usable(given, kind) if path in skip else given)
        out.problems.extend(problems)
        if entry is not None:
            built.append(entry)
    return built


def _defaults(doc: Document, misshapen: bool, problems: list[Problem]) -> dict[str, Any]:
    """The file's usable `defaults:`, checked here once rather than in every entry.

    When layer one found no shape error in them (not `misshapen`), all of them are usable.
    """
    given = doc.data.get("defaults")
    defaults: dict[str, Any] = {}
    if isinstance(given, dict):
        defaults = shape.usable(given, "defaults") if misshapen else dict(given)
    zone = defaults.get("timezone")
    if zone is not None and not zones.exists(zone):
        problems.append(
            doc.problem(("defaults", "timezone"), "timezone", zones.unknown(zone), zones.HINT)
        )
        del defaults["timezone"]
    if "timeout" in defaults and duration.parse(defaults["timeout"]) <= timedelta(0):
        problems.append(doc.problem(("defaults", "timeout"), "duration", *_ZERO_TIMEOUT))
        del defaults["timeout"]
    if "memory_limit" in defaults and (
        issue := limits.memory_limit(size.parse(defaults["memory_limit"]))
    ):
        problems.append(doc.problem(("defaults", "memory_limit"), "size", *issue))
        del defaults["memory_limit"]
    retry = defaults.get("retry", {})
    if warning := policy.retry_conflict(retry, {}):
        where = ("defaults", "retry", "max_delay" if "max_delay" in retry else "delay")
        problems.append(
            doc.problem(where, "retry", warning, _RETRY_HINT, severity=Severity.WARNING)
        )
    return defaults


@dataclass(frozen=True, slots=True)
class _File:
    """What the entries of one document share."""

    doc: Document
    defaults: Mapping[str, Any]  # its usable `defaults:`
    policy: Policy  # the policy of an entry that sets no policy key: built once
    problems: list[Problem]  # where every entry's problems go


class _Entry:
    """One queue or cron entry being built; problems go to its file's list.

    `given` is the entry as written, `raw` its keys whose values have the
    right shape: rules about which keys go together read `given`, values are
    read from `raw`.
    """

    def __init__(
        self, file: _File, path: Path, given: Mapping[str, Any], raw: Mapping[str, Any]
    ) -> None:
        self.file, self.path, self.given, self.raw = file, path, given, raw
        self.doc, self.defaults, self.problems = file.doc, file.defaults, file.problems
        self.name = str(path[-1])

    def error(
        self, key: str | Path, code: str, message: str, hint: str = "", *, at_key: bool = False
    ) -> None:
        self.problems.append(self.doc.problem(self._path(key), code, message, hint, key=at_key))

    def warn(
        self, key: str | Path, code: str, message: str, hint: str = "", *, at_key: bool = False
    ) -> None:
        where = self._path(key)
        warning = Severity.WARNING
        self.problems.append(
            self.doc.problem(where, code, message, hint, key=at_key, severity=warning)
        )

    def _path(self, key: str | Path) -> Path:
        return (*self.path, *((key,) if isinstance(key, str) else key))

    def source(self) -> Source:
        line, _ = self.doc.position(self.path, key=True)
        return Source(self.doc.file, line, tuple(str(p) for p in self.path))

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self.raw.get(key, self.defaults.get(key))
        return default if value is None else duration.parse(value)

    def handler(self) -> Handler | None:
        """The handler and params, or None when a shape error makes them unusable."""
        if "handler" not in self.raw or ("params" in self.given and "params" not in self.raw):
            return None
        return Handler(self.raw["handler"], freeze(self.raw.get("params", {})))

    # -- queues ------------------------------------------------------------

    def queue(self) -> Queue | None:
        raw = self.raw
        handler = self.handler()
        payload_schema = raw.get("payload_schema")
        if payload_schema is not None:
            self.check_schema(payload_schema)
        idempotency = self.idempotency(payload_schema)
        if handler is None:
            return None
        return Queue(
            name=self.name,
            handler=handler,
            source=self.source(),
            policy=self.policy(),
            description=raw.get("description", ""),
            labels=freeze(raw.get("labels", {})),
            concurrency=raw.get("concurrency", 1),
            rate_limit=rate.parse(raw["rate_limit"]) if "rate_limit" in raw else None,
            idempotency=idempotency,
            payload_schema=freeze(payload_schema) if payload_schema is not None else None,
            max_payload=self.max_payload(),
        )

    def max_payload(self) -> int:
        """The queue's `max_payload`, the default standing in for one reported unusable."""
        if "max_payload" not in self.raw:
            return MAX_PAYLOAD
        limit = size.parse(self.raw["max_payload"])
        if issue := limits.max_payload(limit):
            self.error("max_payload", "size", *issue)
            return MAX_PAYLOAD
        return limit

    def check_schema(self, payload_schema: Mapping[str, Any]) -> None:
        for issue in payload.check(payload_schema):
            where = ("payload_schema", *issue.path)
            if issue.warning:
                self.warn(where, "payload-schema", issue.message, issue.hint, at_key=True)
            else:
                self.error(where, "payload-schema", issue.message, issue.hint)

    def idempotency(self, payload_schema: Mapping[str, Any] | None) -> Idempotency | None:
        spec = self.raw.get("idempotency")
        if spec is None:
            return None
        try:
            fields = template.fields(spec["key"])
        except ValueError as exc:
            self.error(("idempotency", "key"), "template", str(exc))
            return None
        if not fields:
            self.warn(
                ("idempotency", "key"),
                "template",
                f"idempotency key '{spec['key']}' names no payload field, "
                "so every job of this queue gets the same key",
                "name the fields that identify a job, like '{order_id}'",
            )
        known = (payload_schema or {}).get("properties")
        if isinstance(known, Mapping):
            for name in fields:
                top = name.split(".")[0]
                if top not in known:
                    self.warn(
                        ("idempotency", "key"),
                        "template",
                        f"idempotency key uses '{top}', which payload_schema does not define"
                        + did_you_mean(top, known),
                    )
        ttl = duration.parse(spec["ttl"]) if "ttl" in spec else DEFAULT_IDEMPOTENCY_TTL
        return Idempotency(spec["key"], ttl)

    # -- cron --------------------------------------------------------------

    def cron(self) -> Cron | None:
        """The entry, built even when its schedule is unusable so that its target is checked."""
        raw = self.raw
        when = self.when()
        target = self.target()
        if target is None:
            return None
        return Cron(
            name=self.name,
            schedule=when or NEVER,
            target=target,
            source=self.source(),
            policy=self.policy(),
            description=raw.get("description", ""),
            labels=freeze(raw.get("labels", {})),
            overlap=raw.get("overlap", self.defaults.get("overlap", "forbid")),
            starting_deadline=self.duration("starting_deadline", timedelta(minutes=10)),
            jitter=self.duration("jitter", timedelta(0)),
            suspend=raw.get("suspend", False),
        )

    def when(self) -> schedule.Schedule | None:
        given = [key for key in SCHEDULE_KEYS if key in self.given]
        if not given:
            message = "a cron entry needs one of `schedule`, `every` or `at`"
            self.error((), "schedule", message, _WHEN_HINT, at_key=True)
            return None
        if len(given) > 1:
            keys = ", ".join(f"`{key}`" for key in given[:-1]) + f" and `{given[-1]}`"
            message = f"{keys} are alternatives: keep one"
            self.error(given[1], "exclusive", message, _WHEN_HINT, at_key=True)
            return None
        key = given[0]
        zone = self.timezone()
        if key not in self.raw:  # its shape error is reported
            return None
        if key != "schedule" and "timezone" in self.raw:
            self.warn("timezone", "timezone", f"`timezone` has no effect with `{key}`")
        if key == "every":
            return self.every()
        if key == "at":
            try:
                return schedule.At(schedule.parse_at(self.raw["at"]))
            except ValueError as exc:
                self.error("at", "time", str(exc))
                return None
        problem = schedule.check_cron(self.raw["schedule"])
        if problem:
            macro = self.raw["schedule"].strip().startswith("@")
            hint = "" if macro else _CRON_FIELDS
            if "@reboot" in problem:
                hint = "@reboot is not supported: a daemon restarts too often for it"
            self.error("schedule", "cron", problem, hint)
            return None
        return schedule.Cron(self.raw["schedule"].strip(), zone)

    def every(self) -> schedule.Every | None:
        interval = duration.parse(self.raw["every"])
        if interval < timedelta(seconds=1):
            self.error(
                "every",
                "every",
                f"interval {duration.format(interval)} is too short: expected 1s or more",
                "for work that must run more often, keep a worker running instead",
            )
            return None
        if (interval.total_seconds() * 1000) % 1000 and interval < timedelta(minutes=1):
            self.warn(
                "every", "every", "a sub-second part of an interval is rounded by the scheduler"
            )
        return schedule.Every(interval)

    def timezone(self) -> str:
        """The entry's time zone, UTC standing in for one that is reported unusable."""
        if "timezone" not in self.given:
            return str(self.defaults.get("timezone", "UTC"))
        zone = self.raw.get("timezone")
        if zone is None:
            return "UTC"
        if not zones.exists(zone):
            self.error("timezone", "timezone", zones.unknown(zone), zones.HINT)
            return "UTC"
        return str(zone)

    def target(self) -> Handler | Enqueue | None:
        given = self.given
        if "handler" in given and "queue" in given:
            self.error(
                "queue",
                "exclusive",
                "`handler` and `queue` are alternatives: keep one",
                "run a handler directly, or enqueue `payload` into a queue",
                at_key=True,
            )
            return None
        if "handler" not in given and "queue" not in given:
            self.error(
                (),
                "target",
                "a cron entry needs `handler` (run it) or `queue` (enqueue into it)",
                "add `handler:` and its `params:` to run a plugin, "
                "or `queue:` and a `payload:` to enqueue a job",
                at_key=True,
            )
            return None
        if "handler" in given:
            if "payload" in given:
                self.error(
                    "payload",
                    "exclusive",
                    "`payload` goes with `queue`, not with `handler`",
                    "put the handler's options under `params`",
                    at_key=True,
                )
            return self.handler()
        return self.enqueue()

    def enqueue(self) -> Enqueue | None:
        raw = self.raw
        if "params" in self.given:
            self.error(
                "params",
                "exclusive",
                "`params` goes with `handler`; with `queue`, the queue's "
                "handler and params are used",
                "remove `params`, or set them on the queue",
                at_key=True,
            )
        for key in POLICY_KEYS:
            if key in raw and key != "priority":
                self.error(
                    key,
                    "ignored",
                    f"`{key}` has no effect on an entry that enqueues into a queue",
                    f"set it on queue '{raw.get('queue', '')}'",
                    at_key=True,
                )
        if "queue" not in raw or ("payload" in self.given and "payload" not in raw):
            return None
        return Enqueue(raw["queue"], freeze(raw.get("payload", {})))

    # -- policy ------------------------------------------------------------

    def policy(self) -> Policy:
        if POLICY_KEYS.keys().isdisjoint(self.raw):  # most cron entries: the file's own
            return self.file.policy
        own_retry = self.raw.get("retry", {})
        if warning := policy.retry_conflict(own_retry, self.defaults.get("retry", {})):
            key = "max_delay" if "max_delay" in own_retry else "delay"
            self.warn(("retry", key), "retry", warning, _RETRY_HINT)
        merged = policy.merge(self.raw, self.defaults)
        if "timeout" in self.raw and merged.timeout <= timedelta(0):
            self.error("timeout", "duration", *_ZERO_TIMEOUT)
        if "memory_limit" in self.raw and (issue := limits.memory_limit(merged.memory_limit or 0)):
            self.error("memory_limit", "size", *issue)
        return merged
