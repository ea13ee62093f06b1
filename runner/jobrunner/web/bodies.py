"""What the JSON API v1 takes and answers: the request and response bodies, the path
parameters, and the RFC 9457 problem documents of its errors (api.py's routes and
deadletters.py's use them; OpenAPI documents them from here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 1000  # jobs in one batch enqueue
NAME = r"^[^/]{1,200}$"
PROBLEM = "application/problem+json"

QueueName = Annotated[str, Path(description="A queue of the configuration in force.")]
JobId = Annotated[str, Path(description="A job's id, as enqueue returned it.")]


def epoch(when: datetime | None) -> float | None:
    """A time given to a route (UTC when naive) in epoch seconds."""
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class Problem(BaseModel):
    """An RFC 9457 problem document: every error the API answers."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents, as problem documents (503: storage unreachable,
    422: a request that does not match this document)."""
    why = {
        400: "Refused: the detail says why",
        401: "No bearer token, or not one in force (once `access:` entries exist)",
        403: "The token's access entry lacks the route's scope",
        404: "No such queue, job or cron entry (with a suggestion when one is close)",
        409: "The job is not in a state that allows this: the detail says which it is in",
        422: "The request does not match this document",
        503: "The storage cannot be reached",
    }
    return {
        code: {"model": Problem, "description": why[code], "content": {PROBLEM: {}}}
        for code in (*codes, 401, 403, 422, 503)
    }


class NewJob(BaseModel):
    """One job to enqueue."""

    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(
        default=None, description="JSON, checked against the queue's payload_schema."
    )
    delay: float | None = Field(
        default=None, ge=0, le=10 * 365 * 86400, description="Seconds to wait."
    )
    at: datetime | None = Field(
        default=None, description="When to run (RFC 3339, with a time zone)."
    )
    priority: Literal["critical", "high", "normal", "low"] | None = Field(
        None, description="Defaults to the queue's."
    )
    idempotency_key: str | None = Field(
        None,
        max_length=500,
        description="Overrides the queue's idempotency template (in a batch, per job).",
    )


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[NewJob] = Field(..., min_length=1, max_length=MAX_BATCH)


class Enqueued(BaseModel):
    id: str = Field(description="The job's id; an earlier job's when its idempotency key matched.")
    queue: str


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=500, description="Why, for whoever looks next."
    )


class Paused(BaseModel):
    queue: str
    paused: bool
    since: float | None = Field(default=None, description="Epoch seconds.")
    by: str = Field(default="", description="The access entry, or user@host for the CLI.")
    reason: str = ""


class Triggered(BaseModel):
    id: str
    queue: str
    suspended: bool = Field(description="The entry is suspended: this run happens anyway.")
    previous: str | None = Field(description="Its previous run, still queued or running.")


class Cancelled(BaseModel):
    id: str
    outcome: Literal["cancelled", "requested"] = Field(
        description="cancelled: it waited and never runs; requested: it runs, and the "
        "daemon running it stops it within about a second"
    )


class Retried(BaseModel):
    id: str
    queue: str
