"""What the daemons keep in storage besides jobs: one typed record, one codec and one key each.

- `Published`: the configuration in force, as the daemons publish it (no params, so no
  secrets); producers, `status`, `plan` and `trigger` read it.
- `CronState`: what a cron entry last did (`cron:NAME`), written by the scheduler and
  `trigger`, read by `status`.
- `ProblemsRecord`: what the daemons found wrong in the job files at their last (re)load.
- `LastGood`: the last good text of every job file, so a restart with a bad file on disk
  still runs that file's last good version.
- `AppliedPlan`: the plan that produced the newest generation, as its change lines
  (`+ queue emails`, `~ queue emails: concurrency 5 → 10`), for `status` and /config.

Every record is JSON in storage. A reader gets the record, or None when it was never
written or does not read as one (a stray writer's bytes: a daemon then writes it anew,
from the files on disk); the codecs take only the fields they know, of the types they
expect, and ignore the rest, so daemons of two versions can share a storage during a
rollout and garbage in one field never stops a daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jobrunner.logs import event
from jobrunner.problem import Problem, Severity
from jobrunner.storage.base import Storage
from jobrunner.storage.stored import is_time

LAST_GOOD_KEY = "last-good-files"
PLAN_KEY = "applied-plan"
PROBLEMS_KEY = "problems"
Entry = Mapping[str, Any]  # one published queue or cron entry: its settings as JSON


def cron_key(name: str) -> str:
    return f"cron:{name}"


@dataclass(frozen=True, slots=True)
class Published:
    """The configuration in force: queues and cron entries as JSON, with params hashed."""

    generation: int
    hash: str
    queues: Mapping[str, Entry] = field(default_factory=dict)
    crons: Mapping[str, Entry] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "hash": self.hash,
            "queues": {name: dict(entry) for name, entry in self.queues.items()},
            "crons": {name: dict(entry) for name, entry in self.crons.items()},
            "files": list(self.files),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Published:
        files = data.get("files")
        return cls(
            generation=_count(data.get("generation")),
            hash=str(data.get("hash", "")),
            queues=_entries(data.get("queues")),
            crons=_entries(data.get("crons")),
            files=tuple(map(str, files)) if isinstance(files, list) else (),
        )


def _entries(value: Any) -> dict[str, Entry]:
    if not isinstance(value, Mapping):
        return {}
    return {str(name): dict(entry) for name, entry in value.items() if isinstance(entry, Mapping)}


def read_published(storage: Storage) -> Published | None:
    data = _read(storage.published)
    return Published.from_dict(data) if isinstance(data, Mapping) else None


def publish(storage: Storage, published: Published) -> None:
    storage.publish(published.as_dict())


@dataclass(frozen=True, slots=True)
class CronState:
    """What one cron entry last did; every time is epoch seconds."""

    last: float | None = None  # the newest tick handled (fired or skipped)
    job: str | None = None  # its latest run (a tick's or a manual one)
    fired: float | None = None  # when a scheduler last fired a tick
    manual: str | None = None  # the latest manual run (`jobrunner trigger`)
    triggered: float | None = None  # when it was triggered
    skipped: int = 0  # ticks skipped because the previous run was still going
    last_skip: float | None = None  # the tick last skipped
    missed: int = 0  # ticks passed over: no scheduler ran, or past starting_deadline

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronState:
        return cls(
            last=_number(data.get("last")),
            job=_text(data.get("job")),
            fired=_number(data.get("fired")),
            manual=_text(data.get("manual")),
            triggered=_number(data.get("triggered")),
            skipped=_count(data.get("skipped")),
            last_skip=_number(data.get("last_skip")),
            missed=_count(data.get("missed")),
        )


def read_cron(storage: Storage, name: str) -> CronState:
    data = _read(lambda: storage.get_value(cron_key(name)))
    return CronState.from_dict(data) if isinstance(data, Mapping) else CronState()


def write_cron(storage: Storage, name: str, state: CronState) -> None:
    storage.set_value(cron_key(name), state.as_dict())


@dataclass(frozen=True, slots=True)
class ProblemsRecord:
    """The verdict on the job files at a daemon's last (re)load."""

    problems: tuple[Problem, ...] = ()
    quarantined: tuple[str, ...] = ()  # failing files whose last good version stays
    left_out: tuple[str, ...] = ()  # failing files with no good version
    refused: bool = False  # the files do not validate together: nothing changed
    checked: float | None = None  # when (epoch seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "problems": [p.as_dict() for p in self.problems],
            "quarantined": list(self.quarantined),
            "left_out": list(self.left_out),
            "refused": self.refused,
            "checked": self.checked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProblemsRecord:
        return cls(
            problems=tuple(map(_problem, _list(data.get("problems")))),
            quarantined=_names(data.get("quarantined")),
            left_out=_names(data.get("left_out")),
            refused=bool(data.get("refused")),
            checked=_number(data.get("checked")),
        )


def _problem(data: Any) -> Problem:
    """A stored problem; one that does not read as one is shown as its text, in place."""
    try:
        return Problem(**{**data, "severity": Severity(data["severity"])})
    except (TypeError, ValueError, KeyError):
        return Problem("?", 0, 0, "", Severity.ERROR, "unreadable", str(data))


def read_problems(storage: Storage) -> ProblemsRecord | None:
    data = _read(lambda: storage.get_value(PROBLEMS_KEY))
    return ProblemsRecord.from_dict(data) if isinstance(data, Mapping) else None


def write_problems(storage: Storage, record: ProblemsRecord) -> None:
    storage.set_value(PROBLEMS_KEY, record.as_dict())


@dataclass(frozen=True, slots=True)
class LastGood:
    """The last good text of every job file in force, by file name."""

    files: Mapping[str, bytes] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return {name: text.decode() for name, text in self.files.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LastGood:
        return cls({str(k): v.encode() for k, v in data.items() if isinstance(v, str)})


def read_last_good(storage: Storage) -> LastGood:
    data = _read(lambda: storage.get_value(LAST_GOOD_KEY))
    return LastGood.from_dict(data) if isinstance(data, Mapping) else LastGood()


def write_last_good(storage: Storage, last_good: LastGood) -> None:
    storage.set_value(LAST_GOOD_KEY, last_good.as_dict())


@dataclass(frozen=True, slots=True)
class AppliedPlan:
    """The last plan that produced a new generation: what changed, from which generation."""

    generation: int  # the generation it produced
    previous: int  # the generation the daemon that published it ran before (0: none)
    commit: str | None = None  # of the Git checkout holding jobs.d, when it is one
    applied: float | None = None  # when (epoch seconds)
    changes: tuple[str, ...] = ()  # one line per change, as the daemon logs them

    def as_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "previous": self.previous,
            "commit": self.commit,
            "applied": self.applied,
            "changes": list(self.changes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppliedPlan:
        return cls(
            generation=_count(data.get("generation")),
            previous=_count(data.get("previous")),
            commit=_text(data.get("commit")),
            applied=_number(data.get("applied")),
            changes=tuple(c for c in _list(data.get("changes")) if isinstance(c, str)),
        )


def read_plan(storage: Storage) -> AppliedPlan | None:
    data = _read(lambda: storage.get_value(PLAN_KEY))
    return AppliedPlan.from_dict(data) if isinstance(data, Mapping) else None


def write_plan(storage: Storage, plan: AppliedPlan) -> None:
    storage.set_value(PLAN_KEY, plan.as_dict())


def _read(get: Callable[[], Any]) -> Any:
    """The decoded JSON value `get` reads; None (logged once) when the stored bytes are not
    JSON."""
    try:
        return get()
    except (ValueError, TypeError) as exc:  # StorageError (unreachable) goes on to the caller
        if str(exc) not in _ignored:
            _ignored.add(str(exc))
            event(logging.WARNING, "ignored a stored value that does not read", reason=str(exc))
        return None


_ignored: set[str] = set()  # reasons logged


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _names(value: Any) -> tuple[str, ...]:
    return tuple(map(str, _list(value)))


def _number(value: Any) -> float | None:
    return float(value) if is_time(value) else None  # not NaN, nor a time past year 5000


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
