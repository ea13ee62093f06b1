"""HTML answers: the templates (Jinja2, autoescaped), their filters, the security headers
every page carries, and the static files (our stylesheet and script, vendored htmx and
uPlot) served from package data.

The Content-Security-Policy allows scripts and styles from this origin only: no inline
script, no inline style, no `eval` (htmx is configured without it, see `base.html`).
"""

from __future__ import annotations

import json
import mimetypes
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi import HTTPException, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from jobrunner.web.pages.session import COOKIE, Viewer

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC = ("dashboard.css", "dashboard.js", *(f"vendor/{n}" for n in (
    "htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "htmx.LICENSE", "uPlot.LICENSE",
)))  # fmt: skip


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("jobrunner.web.pages", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, age=age, seconds=seconds, pretty=pretty)
    return env


def page(
    env: Environment, template: str, viewer: Viewer, code: int = 200, /, **context: Any
) -> HTMLResponse:
    """`template` rendered for `viewer`, with the security headers."""
    html = env.get_template(template).render(viewer=viewer, **context)
    answer = HTMLResponse(html, status_code=code, headers=HEADERS)
    if viewer.fresh_cookie is not None:
        answer.set_cookie(
            COOKIE,
            viewer.fresh_cookie,
            path="/",
            httponly=True,
            samesite="strict",
            secure=viewer.https,
        )
    return answer


class Static:
    """The dashboard's static files, read once from package data; nothing else is served."""

    def __init__(self) -> None:
        root = resources.files("jobrunner.web.pages") / "static"
        self.files = {name: root.joinpath(*name.split("/")).read_bytes() for name in STATIC}

    def answer(self, name: str) -> Response:
        body = self.files.get(name)
        if body is None:
            raise HTTPException(404, f"no static file '{name}'")
        kind = mimetypes.guess_type(name)[0] or "text/plain"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type=kind, headers=headers)


def when(epoch: float | None) -> str:
    """An epoch time as `2026-12-06 09:14:03 UTC`; an em dash for none."""
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(value: float | None) -> str:
    """Seconds as a short age: `42 s`, `3 min`, `2 h 5 min`, `4 d`."""
    if value is None:
        return "—"
    s = int(value)
    if s < 120:
        return f"{value:.0f} s" if s >= 10 else f"{value:.1f} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d"


def seconds(value: float | None) -> str:
    """A duration: `12 ms`, `1.25 s`."""
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def pretty(value: Any) -> str:
    """JSON, indented, for a <pre>."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
