"""What every page route shares: the storage and client of the host, the templates, the
sessions, and the steps every page and every action takes (who asks, may they, CSRF)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from jobrunner.client import Client
from jobrunner.storage import overview, records
from jobrunner.storage.records import Published
from jobrunner.web.access import Gate
from jobrunner.web.host import Host
from jobrunner.web.pages import render
from jobrunner.web.pages.session import Sessions, SignInNeeded, Viewer

Work = Callable[[Viewer, Mapping[str, str]], Response]
MAX_FORM = 1 << 20  # bytes of a submitted form (a payload's JSON included)


class Kit:
    def __init__(self, host: Host, gate: Gate) -> None:
        self.host, self.storage = host, host.storage
        self.client = Client.over(host.storage)
        self.sessions = Sessions(gate)
        self.env = render.environment()
        self.static = render.Static()

    # -- reading ---------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer:
        """A dependency of every page: who asks; to /signin (303) when nobody valid does."""
        try:
            return self.sessions.viewer(request)
        except SignInNeeded:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            where = "/signin" if target == "/" else f"/signin?next={quote(target, safe='')}"
            raise HTTPException(303, "sign in first", headers={"Location": where}) from None

    def gather(self) -> dict[str, Any]:
        """What `jobrunner status` and `/api/v1/status` show."""
        return overview.gather(self.storage, time.time())

    def published(self) -> Published | None:
        return records.read_published(self.storage)

    def page(self, template: str, viewer: Viewer, code: int = 200, /, **context: Any) -> Response:
        return render.page(self.env, template, viewer, code, **context)

    def refuse(self, viewer: Viewer | None, status: int, message: str) -> Response:
        """An error page (HTML, not a problem document: a person reads it)."""
        who = viewer or Viewer(None, "", "", lambda _: False)
        return self.page("error.html", who, status, status=status, message=message)

    # -- acting ----------------------------------------------------------------

    async def act(self, request: Request, scope: str | Callable[[Mapping[str, str]], str],
                  work: Work) -> Response:  # fmt: skip
        """Run `work` for a POSTed form: a valid session (403 otherwise), the form's CSRF
        token (403), and `scope` (403, with the API's words); `work` runs in a thread."""
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_FORM:
            return self.refuse(None, 413, f"the form is {size:,} bytes, over {MAX_FORM:,}")
        got = await request.form(max_part_size=MAX_FORM)
        form = {k: v for k, v in got.items() if isinstance(v, str)}
        return await run_in_threadpool(self._act, request, scope, form, work)

    def _act(
        self,
        request: Request,
        scope: str | Callable[[Mapping[str, str]], str],
        form: Mapping[str, str],
        work: Work,
    ) -> Response:
        try:
            viewer = self.sessions.viewer(request)
        except SignInNeeded:
            return self.refuse(None, 403, "sign in first: this session is not valid (any more)")
        try:
            Sessions.check_csrf(viewer, form.get("csrf"))
        except HTTPException as exc:
            return self.refuse(viewer, 403, str(exc.detail))
        need = scope(form) if callable(scope) else scope
        if not viewer.may(need):
            return self.refuse(viewer, 403, f"access entry '{viewer.entry}' may not {need}")
        return work(viewer, form)
