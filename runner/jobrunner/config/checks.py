"""Layer two, across files: named checks over all built entries, each returning problems.

Every check is a plain function of the entries (and of the clock or the
environment when it needs them), so tests call them one by one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from jobrunner.config import access, alerts, compiled, limits, payload, shape, webhooks
from jobrunner.config.model import Access, Alert, Cron, Enqueue, Handler, Queue, Webhook, thaw
from jobrunner.config.shape import describe
from jobrunner.parse.document import Document, Path
from jobrunner.plugin import CheckOptions
from jobrunner.problem import Problem, Severity
from jobrunner.registry import Registry
from jobrunner.values import duration, names, refs, schedule
from jobrunner.values.suggest import did_you_mean


@dataclass(frozen=True)
class Scope:
    """What the checks look at."""

    docs: Mapping[str, Document]
    queues: Sequence[Queue]
    crons: Sequence[Cron]
    registry: Registry
    now: datetime
    options: CheckOptions = field(default_factory=CheckOptions)
    environ: Mapping[str, str] | None = None  # set to resolve ${env:…} (--check-env)
    read_file: Callable[[str], str] | None = None  # set to resolve ${file:…}
    access: Sequence[Access] = ()
    webhooks: Sequence[Webhook] = ()
    alerts: Sequence[Alert] = ()

    def problem(
        self,
        file: str,
        path: Path,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        warning: bool = False,
    ) -> Problem:
        severity = Severity.WARNING if warning else Severity.ERROR
        return self.docs[file].problem(path, code, message, hint, key=key, severity=severity)

    def misshapen(self, file: str, path: Path) -> bool:
        """Whether the entry at `path` of `file`, or its file's `defaults:`, has shape errors.

        Such an entry is built from its usable keys, defaults standing in for
        the others, so warnings that weigh several values are not drawn from it.
        """
        return (file, path) in self._misshapen or (file, ("defaults",)) in self._misshapen

    def written(self, entry: Queue | Cron | Access | Webhook | Alert, key: str) -> Any:
        """`key` of `entry` as its file has it (`{}` when absent): plain JSON data.

        The entry holds a read-only copy, which `thaw` would rebuild; validators
        read the document's own, which they do not change.
        """
        value = self.docs[entry.source.file].data
        for part in entry.source.path:
            value = value[part]
        return value.get(key, {})

    @cached_property
    def declared_queues(self) -> set[str]:
        """The queues written in the files (see `_declared_queues`), found when first asked."""
        return _declared_queues(self.docs.values())

    @cached_property
    def _misshapen(self) -> frozenset[tuple[str, Path]]:
        return frozenset(
            (name, path[:2] if path[:1] != ("defaults",) else ("defaults",))
            for name, doc in self.docs.items()
            if doc.data is not None
            for path, _ in shape.check(doc)
        )


def unique_names(scope: Scope) -> Iterator[Problem]:
    """Names are unique across queues and cron entries of the whole directory, and access
    entries, webhooks and alerts each among themselves (their names name token holders,
    senders and audiences, not work)."""
    yield from _duplicates(
        scope,
        [*scope.queues, *scope.crons],
        "names are unique across every file of the jobs directory: rename one",
    )
    yield from _duplicates(
        scope,
        scope.access,
        "access names are unique across every file of the jobs directory: rename one",
    )
    yield from _duplicates(
        scope,
        scope.webhooks,
        "webhook names are unique across every file of the jobs directory: rename one",
    )
    yield from _duplicates(
        scope,
        scope.alerts,
        "alert names are unique across every file of the jobs directory: rename one",
    )


def _duplicates(
    scope: Scope, entries: Iterable[Queue | Cron | Access | Webhook | Alert], hint: str
) -> Iterator[Problem]:
    seen: dict[str, Queue | Cron | Access | Webhook | Alert] = {}
    for entry in sorted(entries, key=lambda e: (e.source.file, e.source.line)):
        first = seen.setdefault(entry.name, entry)
        if first is not entry:
            kinds = {
                Queue: "a queue",
                Cron: "a cron entry",
                Access: "an access entry",
                Webhook: "a webhook",
                Alert: "an alert",
            }
            line, column = scope.docs[first.source.file].position(first.source.path, key=True)
            yield scope.problem(
                entry.source.file,
                entry.source.path,
                "duplicate-name",
                f"name '{entry.name}' is already used by {kinds[type(first)]} at "
                f"{first.source.file}:{line}:{column}",
                hint,
                key=True,
            )


def references(scope: Scope) -> Iterator[Problem]:
    """A cron entry's `queue:` names a queue, and its `payload` satisfies that queue's schema."""
    queues = {q.name: q for q in scope.queues}
    validators: dict[str, compiled.Validator | None] = {}
    for cron in scope.crons:
        if not isinstance(cron.target, Enqueue):
            continue
        where = cron.source
        queue = queues.get(cron.target.queue)
        if queue is None and cron.target.queue in scope.declared_queues:
            continue  # the queue is written, but with errors of its own
        if queue is None:
            yield scope.problem(
                where.file,
                (*where.path, "queue"),
                "reference",
                f"unknown queue '{cron.target.queue}'{did_you_mean(cron.target.queue, queues)}",
                f"defined queues: {', '.join(sorted(queues)) or 'none'}",
            )
            continue
        payload_path = (*where.path, "payload")
        written = scope.written(cron, "payload")
        if too_large := limits.payload(written, queue.max_payload, queue.name):
            yield scope.problem(where.file, payload_path, "payload", *too_large)
        if queue.payload_schema is None:
            continue
        if queue.name not in validators:
            validators[queue.name] = payload.validator(scope.written(queue, "payload_schema"))
        validator = validators[queue.name]
        if validator is None:
            continue  # reported on the queue
        for error in validator.iter_errors(written):
            for problem in describe(scope.docs[where.file], error, payload_path):
                yield _reworded(problem, f"payload does not satisfy queue '{queue.name}': ")


def access_scopes(scope: Scope) -> Iterator[Problem]:
    """Each scope of an access entry is known, and `enqueue:QUEUE` names a queue."""
    queues = {q.name for q in scope.queues}
    for entry in scope.access:
        for index, text in enumerate(scope.written(entry, "scopes")):
            issue = access.scope_issue(text, queues)
            if issue is None:
                continue
            code, message, hint = issue
            queue = text.removeprefix(access.ONE_QUEUE)
            if code == "reference" and queue in scope.declared_queues:
                continue  # the queue is written, but with errors of its own
            path: Path = (*entry.source.path, "scopes", index)
            yield scope.problem(entry.source.file, path, code, message, hint)


def webhook_routes(scope: Scope) -> Iterator[Problem]:
    """Each webhook path is served once across the directory, and each webhook's queue exists."""
    queues = {q.name for q in scope.queues}
    served: dict[str, Webhook] = {}
    for hook in sorted(scope.webhooks, key=lambda e: (e.source.file, e.source.line)):
        where = hook.source
        first = served.setdefault(hook.path, hook)
        if first is not hook:
            line, column = scope.docs[first.source.file].position(
                (*first.source.path, "path"), key=False
            )
            yield scope.problem(
                where.file,
                (*where.path, "path"),
                "duplicate-path",
                f"path '{hook.path}' is already served by webhook '{first.name}' at "
                f"{first.source.file}:{line}:{column}",
                "each webhook needs a path of its own: rename one",
            )
        if hook.queue in queues or hook.queue in scope.declared_queues:
            continue  # a queue written with errors of its own is reported there
        yield scope.problem(
            where.file,
            (*where.path, "queue"),
            "reference",
            f"unknown queue '{hook.queue}'{did_you_mean(hook.queue, queues)}",
            f"defined queues: {', '.join(sorted(queues)) or 'none'}",
        )


def alert_queues(scope: Scope) -> Iterator[Problem]:
    """Each alert's `queue`, and each queue of its `queues` filter, is defined; a filter
    on an alert that routes no event about queues is refused (it would filter nothing)."""
    queues = {q.name for q in scope.queues}
    for alert in scope.alerts:
        where = alert.source
        if alert.queue not in queues and alert.queue not in scope.declared_queues:
            yield _unknown_queue(scope, where.file, (*where.path, "queue"), alert.queue, queues)
        if alert.queues is None:
            continue
        if not set(alert.events) & set(alerts.ABOUT_QUEUES):
            yield scope.problem(
                where.file,
                (*where.path, "queues"),
                "ignored",
                f"`queues` narrows the events about queues ({', '.join(alerts.ABOUT_QUEUES)}), "
                "and this alert routes none",
                "remove `queues`, or route one of those events",
                key=True,
            )
        for index, name in enumerate(scope.written(alert, "queues")):
            if name not in queues and name not in scope.declared_queues:
                at: Path = (*where.path, "queues", index)
                yield _unknown_queue(scope, where.file, at, name, queues)


def _unknown_queue(scope: Scope, file: str, path: Path, name: str, queues: set[str]) -> Problem:
    return scope.problem(
        file,
        path,
        "reference",
        f"unknown queue '{name}'{did_you_mean(name, queues)}",
        f"defined queues: {', '.join(sorted(queues)) or 'none'}",
    )


def handlers(scope: Scope) -> Iterator[Problem]:
    """`handler` names an installed plugin, and `params` satisfies the plugin."""
    validators = {
        name: compiled.Validator(plugin.params_schema)
        for name, plugin in scope.registry.plugins.items()
    }
    for entry, handler in _handlers(scope):
        where = entry.source
        plugin = scope.registry.plugins.get(handler.plugin)
        if plugin is None:
            yield _unknown_plugin(
                scope, entry.source.file, (*where.path, "handler"), handler.plugin
            )
            continue
        params_path = (*where.path, "params")
        doc = scope.docs[where.file]
        params = scope.written(entry, "params")  # plain JSON, as the params schema saw it
        for error in validators[handler.plugin].iter_errors(params):
            yield from describe(doc, error, params_path)
        # A copy: a plugin's check could change what it is given, and documents are kept.
        for issue in plugin.check(thaw(handler.params), scope.options):
            yield scope.problem(
                where.file,
                (*params_path, *issue.path),
                f"{handler.plugin}-params",
                issue.message,
                issue.hint,
                warning=issue.warning,
            )


def memory_limits(scope: Scope) -> Iterator[Problem]:
    """`memory_limit` is set only where it applies: `isolation: process`, or a plugin that
    applies it to the processes it starts (the shell plugin). Set on the entry, it is an
    error; from the file's `defaults:`, a warning (it applies to the file's other entries)."""
    for entry, handler in _handlers(scope):
        where = entry.source
        plugin = scope.registry.plugins.get(handler.plugin)
        if entry.policy.memory_limit is None or entry.policy.isolation == "process":
            continue
        if plugin is None or plugin.applies_memory_limit or scope.misshapen(where.file, where.path):
            continue
        moot = f"the `{handler.plugin}` handler in a worker thread (isolation: thread)"
        hint = "set `isolation: process` to run it in a child process under the limit"
        own = scope.written(entry, "memory_limit") != {}  # `{}`: not written on the entry
        kind = "queue" if isinstance(entry, Queue) else "cron entry"
        yield scope.problem(
            where.file,
            (*where.path, "memory_limit") if own else ("defaults", "memory_limit"),
            "memory-limit",
            f"memory_limit has no effect on {moot}"
            if own
            else f"the file's memory_limit has no effect on {kind} '{entry.name}', {moot}",
            f"{hint}, or remove memory_limit" if own else hint,
            warning=not own,
        )


def secret_refs(scope: Scope) -> Iterator[Problem]:
    """`${env:…}` / `${file:…}` in params are well formed, and they, access tokens and
    webhook secrets (whose form the build checks) resolve when asked to."""
    for entry, handler in _handlers(scope):
        params_path = (*entry.source.path, "params")
        for path, text in refs.walk_strings(handler.params):
            for ref in refs.scan(text):
                if isinstance(ref, str):
                    yield scope.problem(entry.source.file, (*params_path, *path), "reference", ref)
                else:
                    yield from _resolve(scope, entry, (*params_path, *path), ref)
    for holder in scope.access:
        if holder.token == access.NO_TOKEN:
            continue  # reported unusable
        token_path = (*holder.source.path, "token")
        yield from _resolve(scope, holder, token_path, holder.token, access.resolve)
    for hook in scope.webhooks:
        if hook.secret == webhooks.NO_SECRET:
            continue  # reported unusable
        secret_path = (*hook.source.path, "secret")
        yield from _resolve(scope, hook, secret_path, hook.secret, access.resolve)


def _resolve(
    scope: Scope,
    entry: Queue | Cron | Access | Webhook,
    path: Path,
    ref: refs.Ref,
    resolve: Callable[[refs.Ref, Mapping[str, str], Callable[[str], str]], str] = refs.resolve,
) -> Iterator[Problem]:
    if scope.environ is None or scope.read_file is None:
        return
    try:
        resolve(ref, scope.environ, scope.read_file)
    except LookupError as exc:
        yield scope.problem(
            entry.source.file,
            path,
            "unresolved",
            f"{ref} does not resolve: {exc}",
            "set it in the environment of the daemon (and of this check)",
        )


def timing(scope: Scope) -> Iterator[Problem]:
    """Warnings about schedules that cannot behave as written."""
    for cron in scope.crons:
        where = cron.source
        if isinstance(cron.schedule, schedule.At):
            if cron.schedule.when <= scope.now:
                yield scope.problem(
                    where.file,
                    (*where.path, "at"),
                    "past",
                    f"one-shot time {cron.schedule.when.isoformat()} is in the past: "
                    "it will never fire",
                    "remove the entry, or set a future time",
                    warning=True,
                )
        elif _may_pile_up(cron):
            for path, code, message, hint in _pile_ups(
                cron, _shortest_gap(cron.schedule, scope.now)
            ):
                if not scope.misshapen(where.file, where.path):
                    yield scope.problem(
                        where.file, (*where.path, path), code, message, hint, warning=True
                    )


def _may_pile_up(cron: Cron) -> bool:
    """Whether `_pile_ups` could find anything, so the gap is only computed when it matters.

    A 5-field cron expression never fires less than a minute apart, a 6-field
    one a second, an interval its length: below that floor nothing can collide.
    """
    when = cron.schedule
    if isinstance(when, schedule.Every):
        floor = when.interval
    elif isinstance(when, schedule.Cron) and len(when.fields.split()) == 5:
        floor = timedelta(minutes=1)
    else:
        floor = timedelta(seconds=1)
    allowed = cron.overlap == "allow" and isinstance(cron.target, Handler)
    return (allowed and cron.policy.timeout > floor) or cron.jitter >= floor


def _pile_ups(cron: Cron, gap: timedelta) -> Iterator[tuple[str, str, str, str]]:
    """(key, code, message, hint) of each way runs of `cron`, `gap` apart, can collide."""
    if cron.overlap == "allow" and isinstance(cron.target, Handler) and gap < cron.policy.timeout:
        yield (
            "overlap",
            "overlap",
            f"fires every {duration.format(gap)} but may run for up to "
            f"{duration.format(cron.policy.timeout)} (timeout) with `overlap: allow`, "
            "so runs can pile up",
            "use `overlap: forbid`, or a timeout shorter than the interval",
        )
    if cron.jitter >= gap:
        yield (
            "jitter",
            "jitter",
            f"jitter {duration.format(cron.jitter)} is not shorter than the "
            f"{duration.format(gap)} between ticks, so runs can swap order or merge",
            "keep jitter well below the interval",
        )


CHECKS: tuple[Callable[[Scope], Iterator[Problem]], ...] = (
    unique_names,
    references,
    access_scopes,
    webhook_routes,
    alert_queues,
    handlers,
    memory_limits,
    secret_refs,
    timing,
)


def run_all(scope: Scope) -> list[Problem]:
    return [problem for check in CHECKS for problem in check(scope)]


def _handlers(scope: Scope) -> Iterator[tuple[Queue | Cron, Handler]]:
    for queue in scope.queues:
        yield queue, queue.handler
    for cron in scope.crons:
        if isinstance(cron.target, Handler):
            yield cron, cron.target


def _unknown_plugin(scope: Scope, file: str, path: Path, name: str) -> Problem:
    if name in scope.registry.broken:
        return scope.problem(
            file,
            path,
            "plugin",
            f"plugin '{name}' is installed but failed to load: {scope.registry.broken[name]}",
            "fix or reinstall the package that provides it",
        )
    known = sorted(scope.registry.plugins)
    return scope.problem(
        file,
        path,
        "plugin",
        f"unknown handler '{name}'{did_you_mean(name, known)}",
        f"installed plugins: {', '.join(known) or 'none'}; third-party plugins register "
        "under the `jobrunner.plugins` entry-point group",
    )


def _declared_queues(docs: Iterable[Document]) -> set[str]:
    """Every queue name written in the files, and the valid name an invalid one would take."""
    found: set[str] = set()
    for doc in docs:
        section = doc.data.get("queues") if isinstance(doc.data, dict) else None
        for name in section if isinstance(section, dict) else ():
            found.add(name)
            found.add(names.suggest(name) or name)
    return found


def _shortest_gap(when: schedule.Schedule, now: datetime) -> timedelta:
    if isinstance(when, schedule.Every):
        return when.interval
    times = schedule.upcoming(when, now, 24)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min(gaps, default=timedelta(days=365))


def _reworded(problem: Problem, prefix: str) -> Problem:
    return replace(problem, code="payload", message=prefix + problem.message)
