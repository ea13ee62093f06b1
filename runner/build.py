"""Layer two, per file: turn one shape-valid document into model entries.

Here the values that JSON Schema only sees as strings get their meaning
(durations, cron expressions, time zones, times, rate limits, templates),
file-level `defaults:` are merged in, and the rules that tie keys of one
entry together are checked ("exactly one of schedule, every or at").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from jobrunner import duration, rate, schedule, template
from jobrunner.document import Document, Path
from jobrunner.jobschema import POLICY_KEYS
from jobrunner.model import (
    Cron,
    Enqueue,
    Handler,
    Idempotency,
    Policy,
    Priority,
    Queue,
    RetryPolicy,
    Source,
    freeze,
)
from jobrunner.problem import Problem, Severity
from jobrunner.suggest import did_you_mean
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

SCHEDULE_KEYS = ("schedule", "every", "at")
DEFAULT_IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass
class Built:
    queues: list[Queue] = field(default_factory=list)
    crons: list[Cron] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def build(doc: Document, skip: set[Path]) -> Built:
    """Model entries of `doc`, leaving out entries under a path in `skip` (shape errors)."""
    out = Built()
    if () in skip or ("defaults",) in skip:
        return out
    defaults = doc.data.get("defaults", {})
    for name, raw in doc.data.get("queues", {}).items():
        if ("queues", name) not in skip:
            entry = _Entry(doc, ("queues", name), raw, defaults, out.problems)
            queue = entry.queue()
            if queue and not entry.failed:
                out.queues.append(queue)
    for name, raw in doc.data.get("cron", {}).items():
        if ("cron", name) not in skip:
            entry = _Entry(doc, ("cron", name), raw, defaults, out.problems)
            cron = entry.cron()
            if cron and not entry.failed:
                out.crons.append(cron)
    return out


class _Entry:
    """One queue or cron entry being built; problems go to the shared list."""

    def __init__(
        self,
        doc: Document,
        path: Path,
        raw: Mapping[str, Any],
        defaults: Mapping[str, Any],
        problems: list[Problem],
    ) -> None:
        self.doc, self.path, self.raw, self.defaults = doc, path, raw, defaults
        self.problems = problems
        self.failed = False
        self.name = str(path[-1])

    def error(
        self, key: str | Path, code: str, message: str, hint: str = "", *, at_key: bool = False
    ) -> None:
        self.failed = True
        self.problems.append(self.doc.problem(self._path(key), code, message, hint, key=at_key))

    def warn(self, key: str | Path, code: str, message: str, hint: str = "") -> None:
        self.problems.append(
            self.doc.problem(self._path(key), code, message, hint, severity=Severity.WARNING)
        )

    def _path(self, key: str | Path) -> Path:
        return (*self.path, *((key,) if isinstance(key, str) else key))

    def source(self) -> Source:
        line, _ = self.doc.position(self.path, key=True)
        return Source(self.doc.file, line, tuple(str(p) for p in self.path))

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self.raw.get(key, self.defaults.get(key))
        return default if value is None else duration.parse(value)

    # -- queues ------------------------------------------------------------

    def queue(self) -> Queue | None:
        raw = self.raw
        payload_schema = raw.get("payload_schema")
        if payload_schema is not None:
            self.check_schema(payload_schema)
        return Queue(
            name=self.name,
            handler=Handler(raw["handler"], freeze(raw.get("params", {}))),
            source=self.source(),
            policy=self.policy(),
            description=raw.get("description", ""),
            labels=freeze(raw.get("labels", {})),
            concurrency=raw.get("concurrency", 1),
            rate_limit=rate.parse(raw["rate_limit"]) if "rate_limit" in raw else None,
            idempotency=self.idempotency(payload_schema),
            payload_schema=freeze(payload_schema) if payload_schema is not None else None,
        )

    def check_schema(self, payload_schema: Mapping[str, Any]) -> None:
        try:
            Draft202012Validator.check_schema(payload_schema)
        except SchemaError as exc:
            where = ("payload_schema", *exc.absolute_path)
            self.error(
                where,
                "payload-schema",
                f"payload_schema is not a valid JSON Schema: {exc.message}",
                "see https://json-schema.org/understanding-json-schema/",
            )

    def idempotency(self, payload_schema: Mapping[str, Any] | None) -> Idempotency | None:
        spec = self.raw.get("idempotency")
        if spec is None:
            return None
        try:
            fields = template.fields(spec["key"])
        except ValueError as exc:
            self.error(
                ("idempotency", "key"), "template", str(exc), "write {{ and }} for literal braces"
            )
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
        raw = self.raw
        when = self.when()
        target = self.target()
        if when is None or target is None:
            return None
        return Cron(
            name=self.name,
            schedule=when,
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
        given = [key for key in SCHEDULE_KEYS if key in self.raw]
        if not given:
            self.error(
                (),
                "schedule",
                "a cron entry needs one of `schedule`, `every` or `at`",
                'e.g. `schedule: "0 * * * *"`, `every: 15m` or `at: 2026-12-01T09:00:00Z`',
                at_key=True,
            )
            return None
        if len(given) > 1:
            self.error(
                given[1],
                "exclusive",
                f"`{given[0]}` and `{given[1]}` are alternatives: keep one",
                at_key=True,
            )
            return None
        key = given[0]
        zone = self.timezone()
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
            hint = (
                "@reboot is not supported: a daemon restarts too often for it"
                if "@reboot" in problem
                else ("check it at https://crontab.guru or with `jobrunner schedules`")
            )
            self.error("schedule", "cron", problem, hint)
            return None
        return schedule.Cron(self.raw["schedule"].strip(), zone)

    def every(self) -> schedule.Every | None:
        interval = duration.parse(self.raw["every"])
        if interval < timedelta(seconds=1):
            self.error(
                "every",
                "every",
                f"interval {duration.format(interval)} is too short",
                "the shortest interval is 1s",
            )
            return None
        if (interval.total_seconds() * 1000) % 1000 and interval < timedelta(minutes=1):
            self.warn(
                "every", "every", "a sub-second part of an interval is rounded by the scheduler"
            )
        return schedule.Every(interval)

    def timezone(self) -> str:
        zone = self.raw.get("timezone", self.defaults.get("timezone", "UTC"))
        if not _zone_exists(zone):
            where = "timezone" if "timezone" in self.raw else None
            message = f"unknown time zone '{zone}'{did_you_mean(zone, _zones())}"
            hint = "use an IANA name such as Europe/Berlin or America/New_York"
            if where:
                self.error(where, "timezone", message, hint)
            else:
                self.failed = True
                line, column = self.doc.position(("defaults", "timezone"))
                self.problems.append(
                    Problem(
                        self.doc.file,
                        line,
                        column,
                        "defaults.timezone",
                        Severity.ERROR,
                        "timezone",
                        message,
                        hint,
                    )
                )
        return str(zone)

    def target(self) -> Handler | Enqueue | None:
        raw = self.raw
        if "handler" in raw and "queue" in raw:
            self.error(
                "queue",
                "exclusive",
                "`handler` and `queue` are alternatives: keep one",
                "run a handler directly, or enqueue `payload` into a queue",
                at_key=True,
            )
            return None
        if "handler" not in raw and "queue" not in raw:
            self.error(
                (),
                "target",
                "a cron entry needs `handler` (run it) or `queue` (enqueue into it)",
                at_key=True,
            )
            return None
        if "handler" in raw:
            if "payload" in raw:
                self.error(
                    "payload",
                    "exclusive",
                    "`payload` goes with `queue`, not with `handler`",
                    "put the handler's options under `params`",
                    at_key=True,
                )
            return Handler(raw["handler"], freeze(raw.get("params", {})))
        if "params" in raw:
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
                    f"set it on queue '{raw['queue']}'",
                    at_key=True,
                )
        return Enqueue(raw["queue"], freeze(raw.get("payload", {})))

    # -- policy ------------------------------------------------------------

    def policy(self) -> Policy:
        merged = {**{k: v for k, v in self.defaults.items() if k in POLICY_KEYS}, **self.raw}
        retry_raw = {**self.defaults.get("retry", {}), **self.raw.get("retry", {})}
        base, base_retry = Policy(), RetryPolicy()
        retry = RetryPolicy(
            attempts=retry_raw.get("attempts", base_retry.attempts),
            backoff=retry_raw.get("backoff", base_retry.backoff),
            delay=_dur(retry_raw.get("delay"), base_retry.delay),
            max_delay=_dur(retry_raw.get("max_delay"), base_retry.max_delay),
            jitter=float(retry_raw.get("jitter", base_retry.jitter)),
        )
        if retry.max_delay < retry.delay:
            self.warn(
                ("retry", "max_delay") if "max_delay" in self.raw.get("retry", {}) else "retry",
                "retry",
                f"retry max_delay {duration.format(retry.max_delay)} is below its delay "
                f"{duration.format(retry.delay)}: every retry waits the max_delay",
            )
        timeout = _dur(merged.get("timeout"), base.timeout)
        if timeout <= timedelta(0):
            self.error(
                "timeout",
                "duration",
                "a timeout of 0 would fail every attempt",
                "remove it for 10m",
            )
        return Policy(
            timeout=timeout,
            isolation=merged.get("isolation", base.isolation),
            retry=retry,
            priority=Priority(merged.get("priority", base.priority.value)),
            dead_letter_retain=_dur(
                merged.get("dead_letter", {}).get("retain"), base.dead_letter_retain
            ),
            retain_completed=_dur(merged.get("retain_completed"), base.retain_completed),
            max_deliveries=merged.get("max_deliveries", base.max_deliveries),
        )


def _dur(value: str | int | None, default: timedelta) -> timedelta:
    return default if value is None else duration.parse(value)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone_exists(name: str) -> bool:
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError, PermissionError):
        return False
    return True
