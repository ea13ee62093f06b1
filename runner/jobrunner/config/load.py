"""The one door into the program: job files in, a `Config` and its problems out.

`validate`, `schedules`, the daemon's start and its reloads all call `load`.
`load` does the I/O (finding and reading files, finding plugins); `assemble`
is the pure core that tests drive with texts.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from jobrunner.config import build, checks, collector, shape
from jobrunner.config.model import Access, Alert, Config, Cron, Queue, Webhook
from jobrunner.parse import document
from jobrunner.plugin import CheckOptions
from jobrunner.problem import Problem, Severity
from jobrunner.registry import Registry, discover

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Options:
    strict: bool = False  # warnings count as errors
    check_env: bool = False  # ${env:…} and ${file:…} must resolve here
    check_imports: bool = False  # python handlers' callables must import


@dataclass(frozen=True)
class Loaded:
    """The outcome of one load: the config of the files without errors, and every problem."""

    config: Config
    problems: list[Problem]
    files: tuple[str, ...]
    failed: frozenset[str] = field(default_factory=frozenset)  # files with errors

    @property
    def ok(self) -> bool:
        return not self.failed and not any(p.severity is Severity.ERROR for p in self.problems)


class PathNotFound(Exception):
    """A path given on the command line does not exist (a usage error, not a finding)."""


def job_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every job file under `paths`, sorted; hidden files and editor leftovers skipped."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_file():
            found.append(given)
        elif given.is_dir():
            found.extend(sorted(p for p in given.rglob("*") if _is_job_file(p, given)))
        else:
            raise PathNotFound(str(given))
    return found


def _is_job_file(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    name = path.name
    return (
        path.suffix in SUFFIXES
        and not any(part.startswith(".") for part in parts)
        and not name.endswith(("~", ".swp", ".swx", ".tmp", ".bak"))
        and not name.startswith("#")
        and not path.is_dir()  # a FIFO, a device or a broken link is reported, not skipped
    )


def load(
    paths: Iterable[str | Path],
    options: Options = Options(),
    *,
    now: datetime | None = None,
    registry: Registry | None = None,
) -> Loaded:
    """Find, read, parse and check every job file under `paths`."""
    with collector.paused():
        return assemble(
            read(paths),
            options,
            now=now or datetime.now(UTC),
            registry=registry or discover(),
            environ=os.environ if options.check_env else None,
            read_file=_read_text if options.check_env else None,
        )


def read(paths: Iterable[str | Path]) -> dict[str, bytes | OSError]:
    """The bytes of every job file under `paths` (or why it could not be read)."""
    texts: dict[str, bytes | OSError] = {}
    for path in job_files(paths):
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # never block on a FIFO or read a device
                raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a socket)")
            texts[str(path)] = path.read_bytes()
        except OSError as exc:
            texts[str(path)] = exc
    return texts


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def assemble(
    texts: Mapping[str, bytes | OSError],
    options: Options,
    *,
    now: datetime,
    registry: Registry,
    environ: Mapping[str, str] | None = None,
    read_file: Callable[[str], str] | None = None,
) -> Loaded:
    """The pure core of `load`: file contents in, `Loaded` out."""
    problems: list[Problem] = []
    docs: dict[str, document.Document] = {}
    queues: list[Queue] = []
    crons: list[Cron] = []
    access: list[Access] = []
    webhooks: list[Webhook] = []
    alerts: list[Alert] = []
    for name, raw in texts.items():
        if isinstance(raw, OSError):
            problems.append(_unreadable(name, raw))
            continue
        one = _one_file(name, raw)
        docs[name] = one.doc
        problems.extend(one.problems)
        queues.extend(one.queues)
        crons.extend(one.crons)
        access.extend(one.access)
        webhooks.extend(one.webhooks)
        alerts.extend(one.alerts)
    scope = checks.Scope(
        docs,
        queues,
        crons,
        registry,
        now,
        CheckOptions(check_imports=options.check_imports),
        environ,
        read_file,
        access,
        webhooks,
        alerts,
    )
    problems.extend(checks.run_all(scope))
    if options.strict:
        problems = [p.as_error() for p in problems]
    problems.sort()
    failed = frozenset(p.file for p in problems if p.severity is Severity.ERROR)
    kept = {q.name: q for q in queues if q.source.file not in failed}
    config = Config(
        queues=kept,
        crons={c.name: c for c in crons if c.source.file not in failed},
        files=tuple(name for name in texts if name not in failed),
        access={a.name: a for a in access if a.source.file not in failed},
        webhooks={
            w.name: replace(w, max_body=kept[w.queue].max_payload) if w.queue in kept else w
            for w in webhooks
            if w.source.file not in failed
        },
        alerts={a.name: a for a in alerts if a.source.file not in failed},
    )
    return Loaded(config, problems, tuple(texts), failed)


@dataclass(frozen=True)
class _File:
    """What one file yields on its own: parsed, shape-checked and built."""

    doc: document.Document
    problems: tuple[Problem, ...]
    queues: tuple[Queue, ...]
    crons: tuple[Cron, ...]
    access: tuple[Access, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    alerts: tuple[Alert, ...] = ()


def forget() -> None:
    """Drop the per-file results kept for reloads (benchmarks measure a first load)."""
    _one_file.cache_clear()


@lru_cache(maxsize=8192)
def _one_file(name: str, raw: bytes) -> _File:
    """Pure in (name, bytes) and immutable, so a reload re-reads only the files that changed."""
    doc = document.parse(name, raw)
    if doc.data is None:
        return _File(doc, doc.problems, (), ())
    found = shape.check(doc)
    built = build.build(doc, {path[:2] for path, _ in found})
    problems = (*doc.problems, *(problem for _, problem in found), *built.problems)
    return _File(
        doc,
        problems,
        tuple(built.queues),
        tuple(built.crons),
        tuple(built.access),
        tuple(built.webhooks),
        tuple(built.alerts),
    )


def _unreadable(name: str, exc: OSError) -> Problem:
    return Problem(
        name, 1, 1, "", Severity.ERROR, "read", f"cannot read file: {exc.strerror or exc}"
    )
