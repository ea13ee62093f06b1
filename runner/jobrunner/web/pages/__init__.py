"""The dashboard: server-rendered pages next to the API, wherever the HTTP server runs
(docs/dashboard.md). Jinja2 templates, htmx and uPlot vendored from npm (no build
step), readable without JavaScript; the API's tokens and scopes through a sign-in
form and a session cookie; a CSRF token on every form; a Content-Security-Policy
without inline script or style."""

from __future__ import annotations

from fastapi import APIRouter, Response

from jobrunner.web.access import Gate
from jobrunner.web.host import Host
from jobrunner.web.pages import actions, signin, views
from jobrunner.web.pages.kit import Kit


def router(host: Host, gate: Gate) -> APIRouter:
    """The dashboard's routes, left out of the OpenAPI document (they answer HTML)."""
    pages = APIRouter(include_in_schema=False)
    kit = Kit(host, gate)

    @pages.get("/static/{name:path}")
    def static(name: str) -> Response:  # public: our stylesheet, script and vendored files
        return kit.static.answer(name)

    signin.add(pages, kit)
    views.add(pages, kit)
    actions.add(pages, kit)
    return pages
