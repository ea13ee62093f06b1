"""Who looks at the dashboard: sessions in a cookie, CSRF tokens, and the API's scopes.

With `access:` entries in force, `/signin` takes a token, checks it with the API's Gate
(`web/access.py`) and sets a cookie naming the access entry, with a proof: an
HMAC-SHA256, keyed by the entry's token, over the entry's name, the issue time and a
random nonce. The cookie never holds the token, nor anything it can be read back from;
every request looks the entry's token up again (it may have been rotated, or the
entry removed, by a reload) and recomputes the proof, so a rotated token or a removed
entry signs its sessions out at once, and any web daemon of the deployment can check
a session another one issued (they share the tokens, not a key of their own). Scopes
are those of the entry now, checked by the Gate as for a bearer token.

With no entry in force (the server listens on loopback only), the pages are open like
the API, and the cookie is an anonymous one that only carries the CSRF nonce.

CSRF: every form carries a token bound to the session: the nonce itself for an
anonymous session (a double-submit cookie: a page of another site can neither read the
HttpOnly, SameSite=Strict cookie nor guess the nonce), an HMAC of the nonce keyed by
the entry's token for a signed-in one. A POST without the matching token is refused
with 403, before anything is done.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response

from jobrunner.web.access import Gate

COOKIE = "jobrunner_session"
LIFETIME = 12 * 3600  # seconds a session lasts; then sign in again
VERSION = "s1"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person at the browser: the access entry they signed in as (None while the
    routes are open), their session's nonce, and a check of their scopes."""

    entry: str | None
    nonce: str
    csrf: str
    may: Callable[[str], bool]
    fresh_cookie: str | None = None  # an anonymous session to set on the answer
    guarded: bool = False  # access entries are in force: sign-in needed, sign-out shown
    https: bool = False  # the request came over https: cookies are Secure

    @property
    def may_operate(self) -> bool:
        return self.may("operate")

    def may_enqueue(self, queue: str) -> bool:
        return self.may(f"enqueue:{queue}")


class SignInNeeded(Exception):
    """No valid session while access entries are in force."""


class Sessions:
    def __init__(self, gate: Gate, clock: Callable[[], float] = time.time) -> None:
        self.gate, self.clock = gate, clock

    # -- reading ---------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer:
        """Who asks: SignInNeeded when entries are in force and the session is not valid."""
        tokens = self.gate.in_force()
        parts = _parse(request.cookies.get(COOKIE, ""), self.clock())
        if tokens is None:  # open: an anonymous session carries the CSRF nonce
            if parts is None:
                nonce = _nonce()
                cookie, https = self.anonymous(nonce), request.url.scheme == "https"
                return Viewer(None, nonce, nonce, _anyone, fresh_cookie=cookie, https=https)
            return Viewer(None, parts.nonce, parts.nonce, _anyone)
        if parts is None or not parts.entry:
            raise SignInNeeded
        token = next((t for t, entry in tokens if entry.name == parts.entry), None)
        if token is None or not hmac.compare_digest(parts.proof, _proof(token, parts)):
            raise SignInNeeded  # the entry was removed, or its token rotated

        def may(scope: str) -> bool:
            try:
                self.gate.admit(token, scope)
            except HTTPException:
                return False
            return True

        if not may("read"):  # its scopes changed since sign-in
            raise SignInNeeded
        return Viewer(parts.entry, parts.nonce, _csrf(token, parts.nonce), may, guarded=True)

    def guest(self, request: Request) -> Viewer:
        """The viewer of the sign-in page: anyone, with an anonymous session for its CSRF."""
        parts = _parse(request.cookies.get(COOKIE, ""), self.clock())
        guarded = self.gate.in_force() is not None
        if parts is None or parts.entry:
            nonce = _nonce()
            cookie = self.anonymous(nonce)
            https = request.url.scheme == "https"
            return Viewer(None, nonce, nonce, _no_one, cookie, guarded=guarded, https=https)
        return Viewer(None, parts.nonce, parts.nonce, _no_one, guarded=guarded)

    @staticmethod
    def check_csrf(viewer: Viewer, sent: str | None) -> None:
        """403 unless the form's token is the session's (compared in constant time)."""
        if viewer.fresh_cookie is not None or not sent:
            raise HTTPException(403, "this form has no valid CSRF token: reload the page")
        if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
            raise HTTPException(403, "this form has no valid CSRF token: reload the page")

    # -- writing ---------------------------------------------------------------

    def anonymous(self, nonce: str) -> str:
        return ".".join((VERSION, "", str(int(self.clock())), nonce, ""))

    def signed_in(self, presented: bytes, entry: str) -> str:
        """A session for `entry`, whose token the sign-in form presented."""
        issued, nonce = int(self.clock()), _nonce()
        name = base64.urlsafe_b64encode(entry.encode()).decode().rstrip("=")
        parts = _Parts(entry, name, issued, nonce, "")
        return ".".join((VERSION, name, str(issued), nonce, _proof(presented, parts)))

    def set(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=LIFETIME,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


@dataclass(frozen=True, slots=True)
class _Parts:
    entry: str  # empty: anonymous
    name: str  # the entry, as the cookie spells it
    issued: int
    nonce: str
    proof: str


def _parse(cookie: str, now: float) -> _Parts | None:
    fields = cookie.split(".")
    if len(fields) != 5 or fields[0] != VERSION or not fields[2].isdigit():
        return None
    _, name, issued, nonce, proof = fields
    if not 16 <= len(nonce) <= 64 or not (now - LIFETIME <= int(issued) <= now + 60):
        return None
    try:
        entry = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except ValueError:
        return None
    return _Parts(entry, name, int(issued), nonce, proof)


def _proof(token: bytes, parts: _Parts) -> str:
    message = f"jobrunner session|{parts.name}|{parts.issued}|{parts.nonce}".encode()
    return hmac.new(token, message, hashlib.sha256).hexdigest()


def _csrf(token: bytes, nonce: str) -> str:
    return hmac.new(token, f"jobrunner csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def _nonce() -> str:
    return secrets.token_urlsafe(24)


def _anyone(scope: str) -> bool:
    return True


def _no_one(scope: str) -> bool:
    return False
