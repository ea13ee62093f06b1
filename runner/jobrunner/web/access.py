"""Who may call which route: the bearer tokens the `access:` entries in force declare.

With no entry, every route is open, which is safe only because the server then
listens on loopback alone (cli/run.py refuses any other address); a server on
another address whose entries are all removed by a reload answers 401 to
everything but health instead of opening up. With entries, every route but
`/healthz` and `/readyz` needs `Authorization: Bearer TOKEN` of an entry with
the route's scope: `read` (every GET, `/metrics`, the OpenAPI document),
`enqueue:QUEUE` (enqueue into QUEUE; `enqueue` covers every queue) or
`operate` (pause, resume, replay, purge, trigger). 401 without a known token,
403 with one that lacks the scope; a token that two entries share (a copy
mistake) may do only what both allow.

Tokens are read through their references when first needed and again every five
seconds (web/secrets.py; a rotated secret file is picked up), compared in constant
time with every token in force, and never logged: an entry whose reference does
not resolve is logged once by name and matches nothing.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Mapping

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobrunner.config.access import resolve_token
from jobrunner.config.model import Access
from jobrunner.web.secrets import Secrets, read_text

BEARER = HTTPBearer(auto_error=False, description="A token of an `access:` entry in force.")
CREDENTIALS = Security(BEARER)  # documents the scheme in the OpenAPI document
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="jobrunner"'}


class Gate:
    def __init__(
        self,
        entries: Callable[[], Mapping[str, Access]],
        *,
        exposed: bool,
        environ: Mapping[str, str] = os.environ,
        read_file: Callable[[str], str] = read_text,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`entries`: the access entries in force now; `exposed`: the server listens on an
        address other hosts can reach."""
        self.entries, self.exposed = entries, exposed

        def read(entry: Access) -> bytes:
            return resolve_token(entry, environ, read_file).encode()

        unusable = "access entry has no usable token: it matches no request"
        self._tokens: Secrets[Access, bytes] = Secrets(read, unusable, clock)

    def need(self, scope: str) -> Callable[..., None]:
        """A FastAPI dependency: the request must carry a token allowed `scope` (the OpenAPI
        document shows the bearer scheme on each route that has it)."""

        def check(request: Request, _: HTTPAuthorizationCredentials | None = CREDENTIALS) -> None:
            request.state.access = self.check(request.headers.get("authorization"), scope)

        return check

    def need_enqueue(
        self, request: Request, _: HTTPAuthorizationCredentials | None = CREDENTIALS
    ) -> None:
        """A FastAPI dependency of the enqueue routes: `enqueue:QUEUE` of the path's queue."""
        scope = f"enqueue:{request.path_params['queue']}"
        request.state.access = self.check(request.headers.get("authorization"), scope)

    def check(self, authorization: str | None, scope: str) -> str | None:
        """The name of the access entry whose token the request carries (None while the
        routes are open); HTTPException 401 or 403 when the request may not go on."""
        return self.admit(_bearer(authorization), scope)

    def admit(self, presented: bytes | None, scope: str) -> str | None:
        """`check` of a token already taken out of its header (the dashboard's sign-in and
        sessions use it): the name of its access entry, None while the routes are open."""
        tokens = self.in_force()
        if tokens is None:
            return None  # no entries, loopback only: open
        if presented is None:
            raise HTTPException(401, "this route needs a bearer token", headers=CHALLENGE)
        holders = [  # every token compared, in constant time each
            entry for token, entry in tokens if hmac.compare_digest(token, presented)
        ]
        if not holders:
            raise HTTPException(401, "the bearer token is not one in force", headers=CHALLENGE)
        for holder in holders:  # a token two entries share may do what both allow, no more
            if not holder.allows(scope):
                have = ", ".join(sorted(holder.scopes))
                raise HTTPException(
                    403, f"access entry '{holder.name}' may not {scope} (its scopes: {have})"
                )
        return holders[0].name

    def in_force(self) -> list[tuple[bytes, Access]] | None:
        """The tokens in force with their entries; None when the routes are open."""
        entries = self.entries()
        if not entries and not self.exposed:
            return None
        tokens = self._tokens.of(entries)
        return [(tokens[name], entry) for name, entry in entries.items() if name in tokens]


def _bearer(authorization: str | None) -> bytes | None:
    if authorization is None:
        return None
    kind, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if kind.lower() != "bearer" or not token:
        return None
    return token.encode("utf-8", "surrogateescape")
