"""The `alerts:` section: events of the daemons routed into a queue of the operator's choosing.

An alert names the events it wants and the queue whose handler tells people
(a chat post, a page, a mail); each event it routes becomes one job in that
queue (runner/jobrunner/alerts/ delivers it). The events are the names of
`EVENTS`; docs/jobfile.md lists the payload of each.

Rules checked here, per file: each event is known ("did you mean"), listed
once, `queue.backlog` comes with `backlog_age` above 0 and `backlog_age`
with `queue.backlog`. Across files (config/checks.py): names are unique, the
alert's `queue` and every queue of its `queues` filter exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from jobrunner.config.model import Alert, Source
from jobrunner.parse.document import Document, Path
from jobrunner.problem import Problem
from jobrunner.values import duration
from jobrunner.values.suggest import did_you_mean

JOB_DEAD = "job.dead"
TICK_MISSED = "tick.missed"
TICK_SKIPPED = "tick.skipped"
RELOAD_REFUSED = "reload.refused"
DAEMON_LOST = "daemon.lost"
QUEUE_BACKLOG = "queue.backlog"
EVENTS = {
    JOB_DEAD: "a job went to the dead-letter queue",
    TICK_MISSED: "cron ticks passed while no scheduler could fire them",
    TICK_SKIPPED: "a tick was skipped: the previous run was still queued or running",
    RELOAD_REFUSED: "changed job files did not validate: refused, or kept at their last good",
    DAEMON_LOST: "a daemon stopped beating without leaving (killed, crashed, cut off)",
    QUEUE_BACKLOG: "a queue's oldest ready job has waited longer than `backlog_age`",
}
ABOUT_QUEUES = (JOB_DEAD, QUEUE_BACKLOG)  # the events a `queues:` filter narrows
DEFAULT_THROTTLE = timedelta(minutes=5)
_EVENTS_HINT = f"events are {', '.join(EVENTS)}"


def build(
    doc: Document, path: Path, raw: Mapping[str, object]
) -> tuple[Alert | None, list[Problem]]:
    """The entry at `path` of `doc` from its usable keys `raw`, and its problems.

    None when its events or queue are unusable (their shape errors are reported).
    """
    problems: list[Problem] = []

    def error(
        at: str | Path, code: str, message: str, hint: str = "", *, key: bool = False
    ) -> None:
        where = (*path, *((at,) if isinstance(at, str) else at))
        problems.append(doc.problem(where, code, message, hint, key=key))

    events = raw.get("events")
    names = [str(e) for e in events] if isinstance(events, list) else []
    for index, name in enumerate(names):
        if name not in EVENTS:
            message = f"unknown event '{name}'{did_you_mean(name, list(EVENTS))}"
            error(("events", index), "event", message, _EVENTS_HINT)
    backlog_age = None
    given = raw.get("backlog_age")
    if isinstance(given, str | int):
        backlog_age = duration.parse(given)
        if QUEUE_BACKLOG not in names and isinstance(events, list):
            message = f"`backlog_age` applies to the {QUEUE_BACKLOG} event only"
            hint = f"remove `backlog_age`, or add {QUEUE_BACKLOG} to `events`"
            error("backlog_age", "ignored", message, hint, key=True)
        elif backlog_age <= timedelta(0):
            message = "a backlog_age of 0 would alert on every ready job: expected above 0"
            error("backlog_age", "duration", message, "like `backlog_age: 10m`")
    elif QUEUE_BACKLOG in names and "backlog_age" not in _written(doc, path):
        message = f"the {QUEUE_BACKLOG} event needs `backlog_age`: how long a job may wait"
        error((), "backlog-age", message, "add `backlog_age: 10m` to the alert", key=True)
    if not isinstance(events, list) or not isinstance(raw.get("queue"), str):
        return None, problems
    line, _ = doc.position(path, key=True)
    queues = raw.get("queues")
    throttle = raw.get("throttle")
    entry = Alert(
        name=str(path[-1]),
        events=tuple(names),
        queue=str(raw["queue"]),
        source=Source(doc.file, line, tuple(str(p) for p in path)),
        queues=frozenset(map(str, queues)) if isinstance(queues, list) else None,
        throttle=duration.parse(throttle) if isinstance(throttle, str | int) else DEFAULT_THROTTLE,
        backlog_age=backlog_age if QUEUE_BACKLOG in names else None,
        description=str(raw.get("description", "")),
    )
    return entry, problems


def _written(doc: Document, path: Path) -> Mapping[str, object]:
    """The entry at `path` as its file has it, keys of the wrong shape included."""
    value: object = doc.data
    for part in path:
        value = value.get(part, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, dict) else {}
