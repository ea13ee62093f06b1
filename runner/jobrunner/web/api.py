"""The JSON API v1 (`/api/v1`): the same core functions as the CLI, over HTTP.

Reads come from the deployment's read model (`storage.overview`, what `jobrunner
status` prints) and the storage's own records; enqueue goes through
`jobrunner.Client` (the queue's payload_schema, max_payload, idempotency
template and priorities, exactly as `jobrunner enqueue` checks them); a manual
cron run through `scheduler.manual` (as `jobrunner trigger`). Errors are RFC
9457 problem documents (app.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request

from jobrunner.client import BatchRefused, Client, EnqueueError, UnknownJob
from jobrunner.job import State
from jobrunner.scheduler.manual import TriggerError, trigger_now
from jobrunner.storage import Cancel, overview, records, search, throughput
from jobrunner.values import suggest
from jobrunner.web.access import Gate
from jobrunner.web.bodies import (
    MAX_BATCH,
    NAME,
    Batch,
    Cancelled,
    Enqueued,
    JobId,
    NewJob,
    Paused,
    PauseRequest,
    QueueName,
    Retried,
    Triggered,
    epoch,
    problems,
)
from jobrunner.web.host import Host

JOBS_DESCRIPTION = f"""Jobs of one queue (or of every queue) newest first by creation
time (their first enqueue), filtered by state, creation time and one payload field, with
the same per-job JSON as `GET /api/v1/jobs/{{job_id}}`. Answers `{{"jobs": [...], "next":
cursor or null, "examined": n}}`: pass `next` as `cursor`, with the same filters, for the
next page. One request reads at most {search.BUDGET:,} stored jobs, whatever the filters:
a page may be short, or empty, while `next` is not null (a rare payload value takes
several requests, each cheap). A bad filter or cursor is a 422 problem document."""


def router(host: Host, gate: Gate) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=problems())
    read = [Depends(gate.need("read"))]
    operate = [Depends(gate.need("operate"))]
    enqueue_into = [Depends(gate.need_enqueue)]
    storage = host.storage
    client = Client.over(storage)

    def now() -> float:
        return time.time()

    @api.get(
        "/status",
        summary="Everything `jobrunner status` shows",
        tags=["overview"],
        dependencies=read,
    )
    def status() -> dict[str, Any]:
        return overview.gather(storage, now())

    @api.get("/queues", summary="Every queue: counts by state", tags=["queues"], dependencies=read)
    def queues() -> dict[str, Any]:
        return {"queues": overview.gather(storage, now())["queues"]}

    @api.get(
        "/history",
        summary="Attempts per minute: succeeded and failed, oldest minute first",
        tags=["queues"],
        dependencies=read,
    )
    def history(
        queue: Annotated[
            str | None, Query(pattern=NAME, description="Only this queue's; all if absent.")
        ] = None,
        minutes: Annotated[
            int, Query(ge=1, le=throughput.MAX_MINUTES, description="How far back (kept: a day).")
        ] = 60,
    ) -> dict[str, Any]:
        """Counted when each attempt is settled (`failed`: retried, dead or lost); what the
        dashboard charts."""
        return throughput.per_minute(storage, now(), queue, minutes)

    @api.get(
        "/queues/{queue}",
        summary="One queue: counts by state",
        tags=["queues"],
        responses=problems(404),
        dependencies=read,
    )
    def queue(queue: QueueName) -> dict[str, Any]:
        found = overview.gather(storage, now())["queues"]
        return {"name": queue, **_known(found, queue, "queue")}

    @api.post(
        "/queues/{queue}/jobs",
        summary="Enqueue one job",
        status_code=201,
        tags=["jobs"],
        responses=problems(400, 404),
        dependencies=enqueue_into,
    )
    def enqueue(
        queue: QueueName,
        job: Annotated[NewJob, Body()],
        idempotency_key: Annotated[str | None, Header(max_length=500)] = None,
    ) -> Enqueued:
        key = job.idempotency_key or idempotency_key
        return Enqueued(id=_enqueue(client, queue, job, key), queue=queue)

    @api.post(
        "/queues/{queue}/batch",
        summary=f"Enqueue up to {MAX_BATCH} jobs; each is checked before any is stored",
        status_code=201,
        tags=["jobs"],
        responses=problems(400, 404),
        dependencies=enqueue_into,
    )
    def enqueue_batch(queue: QueueName, batch: Batch) -> list[Enqueued]:
        """The ids in the order of `jobs` (an earlier job's where an idempotency key was
        seen). Every job is checked before any is stored: a refusal names the first refused
        job (`jobs[3]: …`) and stores nothing. Jobs sharing delay, at and priority are stored
        together, a round trip per 500."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for n, job in enumerate(batch.jobs):
            groups.setdefault((job.delay, job.at, job.priority), []).append(n)
        prepared, refusals = [], []
        for (delay, at, priority), places in groups.items():
            jobs = [batch.jobs[n] for n in places]
            try:
                prepared.append(
                    client.prepare(
                        queue,
                        [job.payload for job in jobs],
                        delay=delay,
                        at=at,
                        priority=priority,
                        idempotency_keys=[job.idempotency_key for job in jobs],
                    )
                )
            except BatchRefused as exc:
                refusals.append((places[exc.index], EnqueueError(exc.reason)))
            except EnqueueError as exc:  # the queue, or an option the group shares
                refusals.append((places[0], exc))
        if refusals:
            first, why = min(refusals, key=lambda refusal: refusal[0])
            _refused(why, f"jobs[{first}]: ")
        stored = client.store(*prepared)
        order = [n for places in groups.values() for n in places]
        ids = dict(zip(order, stored, strict=True))
        return [Enqueued(id=ids[n], queue=queue) for n in range(len(batch.jobs))]

    @api.post(
        "/queues/{queue}/pause",
        summary="Pause a queue: no daemon starts its jobs within a second, until resumed",
        tags=["queues"],
        responses=problems(400, 404),
        dependencies=operate,
    )
    def pause(queue: QueueName, request: Request, why: PauseRequest | None = None) -> Paused:
        try:
            done = client.pause(queue, why.reason if why else None, by=_caller(request))
        except EnqueueError as exc:
            _refused(exc)
            raise  # not reached
        return Paused(queue=queue, paused=True, since=done.since, by=done.by, reason=done.reason)

    @api.post(
        "/queues/{queue}/resume",
        summary="Resume a paused queue: its jobs start again at once",
        tags=["queues"],
        responses=problems(404),
        dependencies=operate,
    )
    def resume(queue: QueueName) -> Paused:
        try:
            lifted = client.resume(queue)
        except EnqueueError as exc:
            _refused(exc)
            raise  # not reached
        return Paused(queue=queue, paused=False, by=lifted.by if lifted else "")

    @api.get(
        "/jobs/{job_id}",
        summary="One job: state, payload, result, attempts",
        tags=["jobs"],
        responses=problems(404),
        dependencies=read,
    )
    def job(job_id: JobId) -> dict[str, Any]:
        info = client.job(job_id)
        if info is None:
            raise HTTPException(404, f"no job '{job_id}' (unknown, or its record expired)")
        return info.as_dict()

    @api.get(
        "/jobs",
        summary="List and search jobs, newest first, a page at a time",
        description=JOBS_DESCRIPTION,
        tags=["jobs"],
        dependencies=read,
    )
    def jobs(
        queue: Annotated[
            str | None, Query(pattern=NAME, description="Only this queue's; all if absent.")
        ] = None,
        state: Annotated[
            list[State] | None, Query(description="Only jobs in one of these states (repeat).")
        ] = None,
        since: Annotated[
            datetime | None,
            Query(
                description="Only jobs created at or after this time (RFC 3339, UTC if "
                "naive, or epoch seconds)."
            ),
        ] = None,
        until: Annotated[
            datetime | None, Query(description="Only jobs created before this time.")
        ] = None,
        field: Annotated[
            str | None,
            Query(
                max_length=search.MAX_PATH,
                description="A payload field, as a dotted path: `customer.id`, `items.0.sku`.",
            ),
        ] = None,
        value: Annotated[
            str | None,
            Query(
                max_length=10_000,
                description="What `field` must equal: JSON when it reads as JSON (`42`, "
                '`true`, `"42"`), else the text itself.',
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = search.LIMIT,
        cursor: Annotated[
            str | None,
            Query(max_length=search.MAX_CURSOR, description="The `next` of the previous page."),
        ] = None,
    ) -> dict[str, Any]:
        if (field is None) != (value is None):
            raise HTTPException(422, "give field and value together: field=PATH&value=VALUE")
        where = None if field is None or value is None else (field, search.typed(value))
        try:
            page = client.jobs(
                queue,
                states=state or (),
                since=epoch(since),
                until=epoch(until),
                where=where,
                limit=limit,
                cursor=cursor,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return page.as_dict()

    @api.get(
        "/crons",
        summary="Every cron entry: schedule, last and next tick",
        tags=["cron"],
        dependencies=read,
    )
    def crons() -> dict[str, Any]:
        return {"crons": overview.gather(storage, now())["crons"]}

    @api.get(
        "/crons/{name}",
        summary="One cron entry",
        tags=["cron"],
        responses=problems(404),
        dependencies=read,
    )
    def cron(
        name: Annotated[str, Path()],
        count: Annotated[int, Query(ge=1, le=100, description="How many next ticks.")] = 5,
    ) -> dict[str, Any]:
        """The entry as `/crons` has it, and `upcoming`: its next ticks, in its time zone."""
        at = now()
        found = overview.gather(storage, at)["crons"]
        entry = _known(found, name, "cron entry")
        doc = records.read_published(storage)
        published = doc.crons.get(name, {}) if doc is not None else {}
        ticks = [] if entry["suspended"] else overview.upcoming(published, at, count)
        return {"name": name, **entry, "upcoming": [t.isoformat() for t in ticks]}

    @api.post(
        "/crons/{name}/trigger",
        summary="Run a cron entry now, once (as `jobrunner trigger`)",
        status_code=201,
        tags=["cron"],
        responses=problems(404),
        dependencies=operate,
    )
    def trigger(name: Annotated[str, Path()]) -> Triggered:
        try:
            done = trigger_now(storage, name, datetime.now(UTC))
        except TriggerError as exc:
            raise HTTPException(404, str(exc)) from None
        return Triggered(
            id=done.job_id, queue=done.queue, suspended=done.suspended, previous=done.previous
        )

    @api.get(
        "/daemons",
        summary="Live daemons: role, queues, generation, health",
        tags=["overview"],
        dependencies=read,
    )
    def daemons() -> dict[str, Any]:
        return {"daemons": overview.gather(storage, now())["daemons"]}

    @api.get(
        "/config",
        summary="The configuration in force: generation, hash, files, problems",
        tags=["overview"],
        dependencies=read,
    )
    def config() -> dict[str, Any]:
        seen = overview.gather(storage, now())
        return {"config": seen["config"], "problems": seen["problems"]}

    @api.post(
        "/jobs/{job_id}/cancel",
        summary="Cancel a job: a waiting one never runs, a running one is stopped",
        tags=["jobs"],
        responses=problems(404, 409),
        dependencies=operate,
    )
    def cancel(job_id: JobId) -> Cancelled:
        try:
            done = client.cancel(job_id)
        except UnknownJob as exc:
            raise HTTPException(404, str(exc)) from None
        if done is Cancel.FINISHED:
            info = client.job(job_id)
            state = info.state.value if info else "gone"
            raise HTTPException(409, f"job '{job_id}' has ended already ({state})")
        return Cancelled(
            id=job_id, outcome="cancelled" if done is Cancel.CANCELLED else "requested"
        )

    @api.post(
        "/jobs/{job_id}/retry",
        summary="Put a dead or cancelled job back in its queue (history kept)",
        tags=["jobs"],
        responses=problems(404, 409),
        dependencies=operate,
    )
    def retry(job_id: JobId) -> Retried:
        info = client.job(job_id)
        if info is None:
            raise HTTPException(404, f"no job '{job_id}' (unknown, or its record expired)")
        try:
            retried = client.retry(job_id)
        except UnknownJob as exc:  # its record expired meanwhile
            raise HTTPException(404, str(exc)) from None
        if not retried:
            raise HTTPException(
                409, f"job '{job_id}' is {info.state.value}: only dead or cancelled jobs retry"
            )
        return Retried(id=job_id, queue=info.queue)

    return api


def _caller(request: Request) -> str:
    """Who asks, for the record: the access entry of the token, else the client address."""
    entry = getattr(request.state, "access", None)
    if entry is not None:
        return f"access entry {entry}"
    return f"HTTP client {request.client.host if request.client else 'unknown'}"


def _known(found: dict[str, Any], name: str, what: str) -> Any:
    if name not in found:
        raise HTTPException(404, f"unknown {what} '{name}'{suggest.did_you_mean(name, found)}")
    return found[name]


def _enqueue(client: Client, queue: str, job: NewJob, key: str | None) -> str:
    try:
        return client.enqueue(
            queue,
            job.payload,
            delay=job.delay,
            at=job.at,
            priority=job.priority,
            idempotency_key=key,
        )
    except EnqueueError as exc:
        _refused(exc)
        raise  # not reached


def _refused(exc: EnqueueError, where: str = "") -> None:
    """400 saying why (`where`: which job of a batch), or 404 for an unknown queue."""
    if str(exc).startswith("unknown queue"):
        raise HTTPException(404, str(exc)) from None
    raise HTTPException(400, where + str(exc)) from None
