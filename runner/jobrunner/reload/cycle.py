"""One reload: read → judge (quarantine) → plan → publish → apply.

SIGHUP, file events and the daemon's start all go through `Reloader.reload`.
`prepare` does everything that decides (read the files, judge them against
their last good versions, record the problems, plan against what this daemon
runs) and changes nothing in force; `commit` publishes the configuration,
keeps its files as the new last good set (and, for a new generation, its plan
as `records.AppliedPlan`), swaps what is in force and applies the plan. The
daemon's start uses the two halves to refuse unknown `--queues` before any
lane starts. A change refused, or files kept at their last good
version, are reported to `alert` (`reload.refused`, alerts/event.py): a
refusal at once, to the alerts in force; a quarantine once the configuration
that keeps it is in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from jobrunner import config as config_mod
from jobrunner import metrics
from jobrunner.alerts import event as alerts
from jobrunner.alerts.event import Event
from jobrunner.config.model import Config
from jobrunner.logs import event
from jobrunner.problem import Severity
from jobrunner.registry import Registry
from jobrunner.reload import publish, quarantine
from jobrunner.reload import strict as strict_mode
from jobrunner.reload.apply import Runtime, apply
from jobrunner.reload.in_force import InForce
from jobrunner.reload.plan import Plan, plan
from jobrunner.reload.provenance import git_commit
from jobrunner.storage import Storage, StorageError, records
from jobrunner.worker.lane import Lane, lanes

Snapshot = dict[str, bytes | str]  # the files as read: their bytes, or why they could not be


@dataclass(frozen=True)
class Prepared:
    """A judged change, not yet in force."""

    config: Config
    lanes: Mapping[str, Lane]
    view: records.Published  # generation 0: the generation is decided when it is published
    texts: Mapping[str, bytes]
    plan: Plan
    refusal: Event | None = None  # files kept at their last good version, or left out


class Reloader:
    def __init__(
        self,
        storage: Storage,
        registry: Registry,
        jobs_dir: Path,
        in_force: InForce,
        runtime: Runtime,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        strict: bool = False,
        alert: Callable[[Event], None] = lambda _: None,
    ) -> None:
        self.storage, self.registry, self.jobs_dir = storage, registry, jobs_dir
        self.alert = alert  # told of refused changes and quarantined files
        self.in_force, self.runtime, self.clock = in_force, runtime, clock
        self.strict = strict  # refuse files others could write (reload/strict.py)
        self._seen: Snapshot | None = None  # the files as last judged
        self.pending = False  # the last reload failed on the storage: try again later

    def reload(self, *, only_if_changed: bool = False) -> Plan | None:
        """Reload now; the plan applied, or None when nothing was (see the log for why).

        With `only_if_changed`, files identical to those last judged are not judged
        again (a file watcher's catch-up after the start), so nothing is logged twice.
        """
        prepared = self.prepare(only_if_changed=only_if_changed)
        if prepared is None:
            return None
        self.commit(prepared)
        return prepared.plan

    def prepare(self, *, only_if_changed: bool = False, startup: bool = False) -> Prepared | None:
        refused = strict_mode.directory(self.jobs_dir) if self.strict else None
        if refused:
            event(logging.ERROR, f"reload refused: {refused}")
            return None
        try:
            on_disk = config_mod.read([self.jobs_dir])
            if self.strict:
                on_disk = strict_mode.screen(on_disk)
            snapshot: Snapshot = {
                name: text if isinstance(text, bytes) else str(text)
                for name, text in on_disk.items()
            }
            if only_if_changed and snapshot == self._seen:
                return None
            last_good = self.in_force.texts or records.read_last_good(self.storage).files
            verdict = quarantine.judge(on_disk, last_good, now=self.clock(), registry=self.registry)
            self._report(verdict)
            self._seen = snapshot
        except StorageError as exc:
            self._failed(exc)
            return None
        except (config_mod.PathNotFound, OSError) as exc:
            event(logging.ERROR, "reload failed, the configuration in force stays", error=str(exc))
            return None
        self.pending = False
        if verdict.refused:
            metrics.RELOADS.labels("refused").inc()
            event(
                logging.ERROR,
                "change refused: the files do not validate together; "
                "the configuration in force stays",
                files=", ".join(verdict.left_out),
            )
            self.alert(self._refusal(snapshot, verdict))
            return None
        if verdict.summary():
            prefix = "started with the last good version of files that fail now: "
            event(logging.WARNING, (prefix if startup else "") + verdict.summary())
        new = verdict.loaded.config
        view = publish.view(new, 0)
        access = (publish.access(self.in_force.config), publish.access(new))
        hooks = (publish.webhooks(self.in_force.config), publish.webhooks(new))
        routed = (publish.alerts(self.in_force.config), publish.alerts(new))
        change = plan(self.in_force.view, view, access, hooks, routed)
        failed = verdict.quarantined or verdict.left_out
        refusal = self._refusal(snapshot, verdict) if failed else None
        return Prepared(new, lanes(new), view, verdict.texts, change, refusal)

    def _refusal(self, snapshot: Snapshot, verdict: quarantine.Verdict) -> Event:
        return alerts.reload_refused(
            snapshot,
            verdict.problems,
            self.clock().timestamp(),
            refused=verdict.refused,
            quarantined=verdict.quarantined,
            left_out=verdict.left_out,
        )

    def _report(self, verdict: quarantine.Verdict) -> None:
        for problem in verdict.problems:
            event(
                logging.ERROR if problem.severity is Severity.ERROR else logging.WARNING,
                f"{problem.file}:{problem.line}:{problem.column}: {problem.severity}: "
                f"{problem.path + ': ' if problem.path else ''}{problem.message}",
                code=problem.code,
            )
        record = records.ProblemsRecord(
            tuple(verdict.problems),
            verdict.quarantined,
            verdict.left_out,
            verdict.refused,
            checked=self.clock().timestamp(),
        )
        records.write_problems(self.storage, record)

    def commit(self, prepared: Prepared) -> None:
        """Publish `prepared`, keep its files as the last good set, and apply its plan."""
        force = self.in_force
        commit = git_commit(self.jobs_dir)
        try:
            generation, new = self._publish(prepared.view)
            records.write_last_good(self.storage, records.LastGood(prepared.texts))
            if new and prepared.plan.changes:  # a daemon catching up keeps the record as is
                changes = tuple(map(str, prepared.plan.changes))
                when = self.clock().timestamp()
                applied = records.AppliedPlan(generation, force.generation, commit, when, changes)
                records.write_plan(self.storage, applied)
        except StorageError as exc:
            self._failed(exc)
            return
        force.config, force.view, force.lanes = prepared.config, prepared.view, prepared.lanes
        force.texts, force.generation, force.commit = prepared.texts, generation, commit
        apply(prepared.plan, prepared.config, prepared.lanes, generation, self.runtime)
        metrics.RELOADS.labels("applied").inc()
        metrics.GENERATION.set(generation)
        for line in map(str, prepared.plan.changes):
            event(logging.INFO, f"plan: {line}", generation=generation, commit=force.commit)
        event(
            logging.INFO,
            "configuration in force",
            generation=generation,
            hash=prepared.view.hash,
            queues=len(prepared.config.queues),
            crons=len(prepared.config.crons),
            changes=len(prepared.plan.changes),
        )
        if prepared.refusal is not None:
            self.alert(prepared.refusal)

    def _failed(self, exc: StorageError) -> None:
        """The storage failed mid-reload: nothing changed in force; the daemon tries again."""
        metrics.RELOADS.labels("failed").inc()
        if not self.pending:
            event(
                logging.ERROR,
                "reload waits for the storage: the configuration in force stays until then",
                error=str(exc),
            )
        self._seen, self.pending = None, True

    def _publish(self, view: records.Published) -> tuple[int, bool]:
        """The generation of `view`, and whether this call published it: the published one
        if it is the same configuration, else the next one, published now."""
        published = records.read_published(self.storage)
        if published is not None and published.hash == view.hash:
            return published.generation, False
        generation = (published.generation if published else 0) + 1
        records.publish(self.storage, replace(view, generation=generation))
        return generation, True
