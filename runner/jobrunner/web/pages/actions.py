"""What the pages' buttons and forms do: each a POST with the session's CSRF token,
through the same functions as the JSON API (`Client.pause|resume|cancel|retry|enqueue`,
`storage.replay|purge` over `each_dead` with the API's `DeadFilter`, `trigger_now`),
then a redirect (303) to the page that shows the result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from jobrunner.client import EnqueueError, UnknownJob
from jobrunner.scheduler.manual import TriggerError, trigger_now
from jobrunner.storage import Cancel
from jobrunner.storage.deadletter import each_dead
from jobrunner.web.pages import forms
from jobrunner.web.pages.kit import Kit
from jobrunner.web.pages.session import Viewer
from jobrunner.web.pages.views import dead_filter, queue_page

Form = Mapping[str, str]


def add(pages: APIRouter, kit: Kit) -> None:
    @pages.post("/queues/{name}/pause")
    async def pause(name: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            by = f"access entry {viewer.entry}" if viewer.entry else _client(request)
            try:
                kit.client.pause(name, form.get("reason") or None, by=by)
            except EnqueueError as exc:
                return kit.refuse(viewer, 400, str(exc))
            return _back(f"/queues/{quote(name)}", note="paused")

        return await kit.act(request, "operate", work)

    @pages.post("/queues/{name}/resume")
    async def resume(name: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            try:
                kit.client.resume(name)
            except EnqueueError as exc:
                return kit.refuse(viewer, 400, str(exc))
            return _back(f"/queues/{quote(name)}", note="resumed")

        return await kit.act(request, "operate", work)

    @pages.post("/queues/{name}/enqueue")
    async def enqueue(name: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            doc = kit.published()
            schema = doc.queues.get(name, {}).get("payload_schema") if doc else None
            try:
                payload = forms.payload(form, schema)
                job_id = kit.client.enqueue(name, payload)
            except (EnqueueError, forms.FormError) as exc:
                if str(exc).startswith("unknown queue"):
                    return kit.refuse(viewer, 404, str(exc))
                query = {"state": "", "field": "", "value": ""}
                return queue_page(
                    kit, viewer, name, query, status=400, refused=str(exc), sent=dict(form)
                )
            return _back(f"/jobs/{quote(job_id)}", note="enqueued")

        return await kit.act(request, f"enqueue:{name}", work)

    @pages.post("/jobs/{job_id}/cancel")
    async def cancel(job_id: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            try:
                done = kit.client.cancel(job_id)
            except UnknownJob as exc:
                return kit.refuse(viewer, 404, str(exc))
            if done is Cancel.FINISHED:
                return kit.refuse(viewer, 409, f"job '{job_id}' has ended already")
            said = "cancelled" if done is Cancel.CANCELLED else "requested"
            return _back(f"/jobs/{quote(job_id)}", note=said)

        return await kit.act(request, "operate", work)

    @pages.post("/jobs/{job_id}/retry")
    async def retry(job_id: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            try:
                retried = kit.client.retry(job_id)
            except UnknownJob as exc:
                return kit.refuse(viewer, 404, str(exc))
            if not retried:
                return kit.refuse(viewer, 409, f"job '{job_id}': only dead or cancelled jobs retry")
            return _back(f"/jobs/{quote(job_id)}", note="retried")

        return await kit.act(request, "operate", work)

    @pages.post("/dead/replay")
    async def replay(request: Request) -> Response:
        return await kit.act(request, "operate", lambda v, f: _bulk(kit, v, f, replay=True))

    @pages.post("/dead/purge")
    async def purge(request: Request) -> Response:
        return await kit.act(request, "operate", lambda v, f: _bulk(kit, v, f, replay=False))

    @pages.post("/crons/{name}/trigger")
    async def trigger(name: str, request: Request) -> Response:
        def work(viewer: Viewer, form: Form) -> Response:
            try:
                trigger_now(kit.storage, name, datetime.now(UTC))
            except TriggerError as exc:
                return kit.refuse(viewer, 404, str(exc))
            return _back(f"/crons/{quote(name)}", note="triggered")

        return await kit.act(request, "operate", work)


def _bulk(kit: Kit, viewer: Viewer, form: Form, *, replay: bool) -> Response:
    """Replay or purge the dead jobs the form's filters pick: the API's DeadFilter, so the
    listing the page showed is what is touched (and what arrived since that matches)."""
    query = {k: form.get(k, "") for k in ("queue", "error", "since", "until")}
    try:
        only = dead_filter(query)
    except ValueError as exc:
        return kit.refuse(viewer, 400, str(exc))
    queue = query["queue"] or None
    done = 0
    if replay:
        done = sum(kit.storage.replay(r.job.id) for r in each_dead(kit.storage, queue, only))
    elif only:
        picked = [r.job.id for r in each_dead(kit.storage, queue, only, removes=False)]
        done = sum(kit.storage.purge(job_id=job_id) for job_id in picked)
    else:
        done = kit.storage.purge(queue=queue)
    back = form.get("back", "")
    target = back if back.startswith("/queues/") else "/dead"
    kept = {k: v for k, v in query.items() if v and target == "/dead"}
    return _back(target, note="replayed" if replay else "purged", n=str(done), **kept)


def _back(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def _client(request: Request) -> str:
    return f"HTTP client {request.client.host if request.client else 'unknown'}"
