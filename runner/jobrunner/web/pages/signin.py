"""`/signin` and `/signout`: a token in, a session cookie out (web/pages/session.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobrunner.web.pages.kit import Kit
from jobrunner.web.pages.session import Sessions, SignInNeeded

MAX_TOKEN = 4096


def add(pages: APIRouter, kit: Kit) -> None:
    @pages.get("/signin")
    def form(request: Request, next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
        viewer = kit.sessions.guest(request)
        return kit.page("signin.html", viewer, target=_target(next))

    @pages.post("/signin")
    async def sign_in(request: Request) -> Response:
        got = await request.form(max_part_size=MAX_TOKEN * 2)
        form = {k: v for k, v in got.items() if isinstance(v, str)}
        return await run_in_threadpool(_sign_in, kit, request, form)

    @pages.post("/signout")
    async def sign_out(request: Request) -> Response:
        got = await request.form()
        sent = got.get("csrf")
        said = sent if isinstance(sent, str) else ""
        return await run_in_threadpool(_sign_out, kit, request, said)


def _sign_out(kit: Kit, request: Request, sent: str) -> Response:
    try:
        viewer = kit.sessions.viewer(request)
    except SignInNeeded:
        viewer = None  # not (validly) signed in: nothing to protect
    if viewer is not None and viewer.entry is not None:
        try:  # nobody signs someone else out from another site
            Sessions.check_csrf(viewer, sent)
        except HTTPException as exc:
            return kit.refuse(viewer, 403, str(exc.detail))
    answer = RedirectResponse("/signin", status_code=303)
    kit.sessions.set(answer, request, kit.sessions.anonymous(kit.sessions.guest(request).nonce))
    return answer


def _sign_in(kit: Kit, request: Request, form: dict[str, str]) -> Response:
    viewer = kit.sessions.guest(request)
    target = _target(form.get("next", "/"))
    try:
        Sessions.check_csrf(viewer, form.get("csrf"))
    except HTTPException as exc:
        return kit.refuse(viewer, 403, str(exc.detail))
    token = form.get("token", "").strip()
    if not token or len(token) > MAX_TOKEN:
        return kit.page("signin.html", viewer, 401, target=target, refused="enter a token")
    presented = token.encode("utf-8", "surrogateescape")
    try:  # the API's gate: a token in force, whose entry may read
        entry = kit.sessions.gate.admit(presented, "read")
    except HTTPException as exc:
        return kit.page("signin.html", viewer, exc.status_code, target=target,
                        refused=str(exc.detail))  # fmt: skip
    answer = RedirectResponse(target, status_code=303)
    if entry is not None:  # None: no entries in force, the pages are open anyway
        kit.sessions.set(answer, request, kit.sessions.signed_in(presented, entry))
    return answer


def _target(path: str) -> str:
    """Where to go after signing in: a path of this site, never another site."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
