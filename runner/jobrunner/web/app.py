"""The HTTP application: health, readiness and metrics, errors as RFC 9457 problems.

FastAPI on Starlette: the routes are typed, and the OpenAPI 3.1 document at
`/api/v1/openapi.json` is generated from them.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.exceptions import HTTPException

from jobrunner import metrics
from jobrunner.logs import event
from jobrunner.storage import StorageError
from jobrunner.version import __version__
from jobrunner.web import api, bodies, deadletters, pages, webhooks
from jobrunner.web.access import Gate
from jobrunner.web.cluster import Cluster
from jobrunner.web.host import Host

PROBLEM = bodies.PROBLEM
TRACEBACK_LINES = 40  # the end of a failed request's traceback, in the log


def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": kind, "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def build(host: Host, *, cluster: bool, exposed: bool = False) -> FastAPI:
    """The application for `host`; with `cluster`, `/metrics` adds the deployment's figures;
    `exposed`: it listens where other hosts can reach it (web/access.py)."""
    app = FastAPI(
        title="jobrunner",
        version=__version__,
        openapi_url=None,  # served below, behind the gate like every route but health
        docs_url=None,
        redoc_url=None,
    )
    gate = Gate(host.access, exposed=exposed)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.EXPOSED)  # with the worker processes' counts
    if cluster:
        registry.register(Cluster(host.storage))

    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, exc: HTTPException) -> JSONResponse:
        answer = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        answer.headers.update(exc.headers or {})
        return answer

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return problem(422, "Invalid request", found)

    @app.exception_handler(StorageError)
    def unreachable(request: Request, exc: StorageError) -> JSONResponse:
        return problem(503, "Storage unavailable", str(exc))

    @app.exception_handler(Exception)
    def failed(request: Request, exc: Exception) -> JSONResponse:
        """A bug: logged with its traceback (the server's own logger is not ours), and a
        problem document that says where to look, never the traceback itself."""
        event(
            logging.ERROR,
            "HTTP request failed",
            method=request.method,
            path=request.url.path,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)[-TRACEBACK_LINES:]),
        )
        return problem(500, "Internal Server Error", "the request failed: see the daemon's log")

    app.include_router(api.router(host, gate))
    app.include_router(deadletters.router(host, gate))
    app.include_router(webhooks.router(host.webhooks, host.storage))  # signed, not gated
    app.include_router(pages.router(host, gate))  # the dashboard (docs/dashboard.md)

    @app.get(
        "/api/v1/openapi.json",
        include_in_schema=False,
        dependencies=[Depends(gate.need("read"))],
    )
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/healthz", summary="Alive: the daemon's main loop runs")
    def healthz() -> Any:
        why = host.liveness()
        if why:
            return problem(503, "Not alive", "; ".join(why))
        return {"status": "alive", "daemon": host.id}

    @app.get("/readyz", summary="Ready: configuration loaded, storage reachable, not stopping")
    def readyz() -> Any:
        why = host.readiness()
        if why:
            return problem(503, "Not ready", "; ".join(why))
        return {"status": "ready", "daemon": host.id}

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        dependencies=[Depends(gate.need("read"))],
    )
    def scrape(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), media_type=content_type)

    return app


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
