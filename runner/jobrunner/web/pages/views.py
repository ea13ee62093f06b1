"""The pages people read: overview, queue, job, dead letters, cron entry, configuration,
daemons. Each reads through the same core as the JSON API (`storage.overview.gather`,
`Client.job` and `Client.jobs`, `storage.deadletter`), so what a page shows is what
`/api/v1` and `jobrunner status` show."""

from __future__ import annotations

import time
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from jobrunner.client import JobInfo, JobPage
from jobrunner.storage import overview, records, search
from jobrunner.storage.deadletter import DeadFilter, each_dead
from jobrunner.storage.throughput import per_minute as throughput_per_minute
from jobrunner.values import moment, suggest
from jobrunner.web.pages import forms
from jobrunner.web.pages.kit import Kit
from jobrunner.web.pages.session import Viewer

LISTED = 25  # jobs in a page of a queue's list
DEAD_LISTED = 100  # dead jobs on the dead-letter page
NOTES = {
    "paused": "Queue paused: no daemon starts its jobs until it is resumed.",
    "resumed": "Queue resumed: its jobs start again.",
    "replayed": "{n} dead job(s) replayed.",
    "purged": "{n} dead job(s) purged for good.",
    "cancelled": "Job cancelled: it never runs.",
    "requested": "Cancel requested: the daemon running the job stops it within about a second.",
    "retried": "Job put back in its queue, its history kept.",
    "triggered": "Triggered: the run is enqueued.",
    "enqueued": "Job enqueued.",
}

Note = Annotated[str | None, Query(max_length=20)]
Count = Annotated[int | None, Query(ge=0)]


def note(code: str | None, n: int | None = None) -> str | None:
    text = NOTES.get(code or "")
    return text.format(n=n or 0) if text else None


def add(pages: APIRouter, kit: Kit) -> None:
    seen_by = Depends(kit.viewer)  # who asks (a 303 to /signin when nobody valid does)

    @pages.get("/")
    def home(viewer: Viewer = seen_by) -> Response:
        seen = kit.gather()
        throughput = throughput_per_minute(kit.client.storage, seen["now"])
        return kit.page("overview.html", viewer, seen=seen, chart=throughput, **_banners(seen))

    @pages.get("/fragments/overview")
    def live(viewer: Viewer = seen_by) -> Response:
        seen = kit.gather()
        return kit.page("overview_live.html", viewer, seen=seen, **_banners(seen))

    @pages.get("/queues/{name}")
    def queue(
        name: str,
        state: Annotated[str | None, Query(max_length=20)] = None,
        field: Annotated[str | None, Query(max_length=search.MAX_PATH)] = None,
        value: Annotated[str | None, Query(max_length=10_000)] = None,
        cursor: Annotated[str | None, Query(max_length=search.MAX_CURSOR)] = None,
        note: Note = None,
        n: Count = None,
        viewer: Viewer = seen_by,
    ) -> Response:
        query = {"state": state or "", "field": field or "", "value": value or ""}
        return queue_page(kit, viewer, name, query, cursor, message=_note(note, n))

    @pages.get("/jobs/{job_id}")
    def job(job_id: str, note: Note = None, viewer: Viewer = seen_by) -> Response:
        info = kit.client.job(job_id)
        if info is None:
            return kit.refuse(viewer, 404, f"no job '{job_id}' (unknown, or its record expired)")
        doc = kit.published()
        defined = doc.queues.get(info.queue, {}).get("source") if doc else None
        return kit.page(
            "job.html", viewer, job=info, defined=defined, extra=info.extra, message=_note(note)
        )

    @pages.get("/dead")
    def dead(
        queue: Annotated[str | None, Query(max_length=200)] = None,
        error: Annotated[str | None, Query(max_length=1000)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
        note: Note = None,
        n: Count = None,
        viewer: Viewer = seen_by,
    ) -> Response:
        query = {"queue": queue or "", "error": error or "", "since": since or "",
                 "until": until or ""}  # fmt: skip
        try:
            only = dead_filter(query)
        except ValueError as exc:
            return kit.page("dead.html", viewer, 400, query=query, jobs=[], error=str(exc))
        where = query["queue"] or None
        if only:
            picked = islice(each_dead(kit.storage, where, only, removes=False), DEAD_LISTED)
            found = [JobInfo.from_record(r) for r in picked]
        else:
            found = [JobInfo.from_record(r) for r in kit.storage.dead(where, DEAD_LISTED)]
        queues = sorted(kit.gather()["queues"])
        return kit.page(
            "dead.html", viewer, query=query, jobs=found, queues=queues, limit=DEAD_LISTED,
            message=_note(note, n),
        )  # fmt: skip

    @pages.get("/crons/{name}")
    def cron(name: str, note: Note = None, viewer: Viewer = seen_by) -> Response:
        seen = kit.gather()
        crons = seen["crons"]
        if name not in crons:
            found = f"unknown cron entry '{name}'{suggest.did_you_mean(name, crons)}"
            return kit.refuse(viewer, 404, found)
        doc = kit.published()
        entry = doc.crons.get(name, {}) if doc is not None else {}
        state = crons[name]
        ticks = [] if state["suspended"] else overview.upcoming(entry, seen["now"], 5)
        runs = _runs(kit, name, entry)
        return kit.page(
            "cron.html", viewer, name=name, cron=state, entry=entry, upcoming=ticks,
            runs=runs, message=_note(note),
        )  # fmt: skip

    @pages.get("/config")
    def config(viewer: Viewer = seen_by) -> Response:
        seen = kit.gather()
        found = _banners(seen)
        kept = _kept(kit, found["quarantined"])
        return kit.page("config.html", viewer, seen=seen, kept=kept, **found)

    @pages.get("/daemons")
    def daemons(viewer: Viewer = seen_by) -> Response:
        seen = kit.gather()
        return kit.page("daemons.html", viewer, seen=seen, **_banners(seen))


def queue_page(
    kit: Kit,
    viewer: Viewer,
    name: str,
    query: dict[str, str],
    cursor: str | None = None,
    *,
    status: int = 200,
    message: str | None = None,
    refused: str | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """The page of queue `name`; also what a refused enqueue answers (400, with why)."""
    seen = kit.gather()
    if name not in seen["queues"]:
        found = f"unknown queue '{name}'{suggest.did_you_mean(name, seen['queues'])}"
        return kit.refuse(viewer, 404, found)
    doc = kit.published()
    entry = doc.queues.get(name, {}) if doc is not None else {}
    schema = entry.get("payload_schema")
    listing, problem = _listing(kit, name, query, cursor)
    dead = [JobInfo.from_record(r) for r in kit.storage.dead(name, 20)]
    return kit.page(
        "queue.html", viewer, status, name=name, counts=seen["queues"][name], entry=entry,
        query=query, page=listing, search_problem=problem, dead=dead, schema=schema,
        fields=forms.fields(schema), message=message, refused=refused, sent=sent or {},
        states=[s for s in ("queued", "scheduled", "running", "retrying", "succeeded",
                            "dead", "cancelled")],
    )  # fmt: skip


def _listing(
    kit: Kit, name: str, query: dict[str, str], cursor: str | None
) -> tuple[JobPage | None, str | None]:
    """A page of the queue's jobs, newest first, through the jobs listing (`Client.jobs`)."""
    field, value = query["field"].strip(), query["value"]
    where = (field, search.typed(value)) if field else None
    try:
        page = kit.client.jobs(
            name,
            states=[query["state"]] if query["state"] else (),
            where=where,
            limit=LISTED,
            cursor=cursor or None,
        )
    except ValueError as exc:
        return None, str(exc)
    return page, None


def dead_filter(query: dict[str, str]) -> DeadFilter:
    """The API's dead-letter filter from a form: ValueError for a time that does not read."""
    return DeadFilter(query["error"] or None, _epoch(query["since"]), _epoch(query["until"]))


def _epoch(text: str) -> float | None:
    """A form's time: empty, a duration ago (`2h`) or an ISO 8601 time (UTC if naive)."""
    return moment.parse(text, time.time()) if text.strip() else None


def _runs(kit: Kit, name: str, entry: Any) -> list[JobInfo]:
    """The entry's last runs still in storage, newest first (at most 10)."""
    queue = entry.get("queue") or name  # a handler entry runs in a lane of its own name
    page = kit.client.jobs(queue, limit=100, since=time.time() - 7 * 86400)
    return [j for j in page.jobs if j.cron == name][:10]


def _kept(kit: Kit, quarantined: list[str]) -> dict[str, str]:
    """The last good text kept for each quarantined file, as written: secrets are in job
    files only by reference (`${env:…}`, `${file:…}`), which nothing here resolves."""
    if not quarantined:
        return {}
    texts = records.read_last_good(kit.storage).files
    return {f: texts[f].decode(errors="replace") for f in quarantined if f in texts}


def _banners(seen: dict[str, Any]) -> dict[str, Any]:
    """What is wrong, for the banner every overview-like page shows."""
    problems = seen.get("problems") or {}
    degraded = [d for d in seen["daemons"] if d.get("healthy") is False]
    return {
        "quarantined": problems.get("quarantined") or [],
        "left_out": problems.get("left_out") or [],
        "refused": bool(problems.get("refused")),
        "degraded": degraded,
        "damage": seen.get("storage_problems") or [],
    }


def _note(code: str | None, n: int | None = None) -> str | None:
    return note(code, n)
