"""The dead-letter routes of the JSON API v1: list, replay and purge, one job or the set
that a `DeadFilter` picks (the same filter as `jobrunner dlq --error/--since/--until`)."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from jobrunner.client import JobInfo
from jobrunner.storage.deadletter import DeadFilter, each_dead
from jobrunner.web.access import Gate
from jobrunner.web.bodies import NAME, Enqueued, JobId, epoch, problems
from jobrunner.web.host import Host

MAX_LIST = 1000  # dead jobs in one listing


def dead_filter(
    error: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="Only dead jobs whose reason, last error type or message contains this "
            "(any case).",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        Query(description="Only jobs that died at or after this time (RFC 3339; UTC if naive)."),
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Only jobs that died before this time.")
    ] = None,
) -> DeadFilter:
    """The dead jobs a listing, replay or purge picks: the same filter as `jobrunner dlq`."""
    return DeadFilter(error, epoch(since), epoch(until))


Picked = Annotated[DeadFilter, Depends(dead_filter)]


class Replayed(BaseModel):
    replayed: list[Enqueued]
    missing: list[str] = Field(description="Ids that were not in the dead-letter queue.")


class Purged(BaseModel):
    purged: int


def router(host: Host, gate: Gate) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=problems())
    read = [Depends(gate.need("read"))]
    operate = [Depends(gate.need("operate"))]
    storage = host.storage

    @api.get("/dead", summary="Dead jobs, oldest first", tags=["dead letters"], dependencies=read)
    def dead(
        only: Picked,
        queue: Annotated[str | None, Query(pattern=NAME)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    ) -> dict[str, Any]:
        if only:
            picked = islice(each_dead(storage, queue, only, removes=False), limit)
            return {"jobs": [JobInfo.from_record(r).as_dict() for r in picked]}
        found = [JobInfo.from_record(r).as_dict() for r in storage.dead(queue, limit)]
        return {"jobs": found}

    @api.post(
        "/dead/{job_id}/replay",
        summary="Replay one dead job",
        tags=["dead letters"],
        responses=problems(404),
        dependencies=operate,
    )
    def replay_one(job_id: JobId) -> Replayed:
        record = storage.record(job_id)
        if record is None or not storage.replay(job_id):
            raise HTTPException(404, f"job '{job_id}' is not in the dead-letter queue")
        return Replayed(replayed=[Enqueued(id=job_id, queue=record.job.queue)], missing=[])

    @api.post(
        "/dead/replay",
        summary="Replay the dead jobs of a queue, or of every queue, that the filters pick",
        tags=["dead letters"],
        dependencies=operate,
    )
    def replay_all(
        only: Picked,
        queue: Annotated[
            str | None, Query(pattern=NAME, description="Only this queue's; all if absent.")
        ] = None,
    ) -> Replayed:
        done, missing = [], []
        for record in each_dead(storage, queue, only):
            job_id = record.job.id
            if storage.replay(job_id):
                done.append(Enqueued(id=job_id, queue=record.job.queue))
            else:  # replayed or purged by someone else meanwhile
                missing.append(job_id)
        return Replayed(replayed=done, missing=missing)

    @api.delete(
        "/dead/{job_id}",
        summary="Delete one dead job for good",
        tags=["dead letters"],
        responses=problems(404),
        dependencies=operate,
    )
    def purge_one(job_id: JobId) -> Purged:
        if not storage.purge(job_id=job_id):
            raise HTTPException(404, f"job '{job_id}' is not in the dead-letter queue")
        return Purged(purged=1)

    @api.delete(
        "/dead",
        summary="Delete the dead jobs of a queue (or, with all=true, of every queue) that the "
        "filters pick, for good",
        tags=["dead letters"],
        responses=problems(400),
        dependencies=operate,
    )
    def purge(
        only: Picked,
        queue: Annotated[str | None, Query(pattern=NAME)] = None,
        all_: Annotated[bool, Query(alias="all")] = False,
    ) -> Purged:
        if (queue is None) == (not all_):
            raise HTTPException(400, "say which dead jobs to purge: queue=NAME or all=true")
        if only:
            picked = [r.job.id for r in each_dead(storage, queue, only, removes=False)]
            return Purged(purged=sum(storage.purge(job_id=job_id) for job_id in picked))
        return Purged(purged=storage.purge(queue=queue))

    return api
