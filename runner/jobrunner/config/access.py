"""The `access:` section: bearer tokens of the HTTP API, by reference, with scopes.

A token is always one `${env:NAME}` or `${file:/path}` reference: job files
live in Git, so a token written in one is refused. It is resolved when the
HTTP server checks a request (`resolve_token`), never when files are
validated, and neither the token nor its reference is published or logged.

Scopes: `read`, `operate`, `enqueue` (into every queue) and `enqueue:QUEUE`
(into one queue, which must be defined in some file).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from jobrunner.config.model import Access, Source
from jobrunner.parse.document import Document, Path
from jobrunner.problem import Problem
from jobrunner.values import names, refs
from jobrunner.values.suggest import did_you_mean

READ, OPERATE, ENQUEUE = "read", "operate", "enqueue"
SCOPES = (READ, OPERATE, ENQUEUE)
ONE_QUEUE = "enqueue:"  # followed by a queue name
EXPECTED_SCOPES = "read, operate, enqueue (into every queue) or enqueue:QUEUE (into one queue)"
# For editors (the published schema); `validate` words these rules itself, below.
TOKEN_PATTERN = r"^\$\{(env:[A-Za-z_][A-Za-z0-9_]*|file:/[^}]*)\}$"
SCOPE_PATTERN = rf"^(read|operate|enqueue(:{names.PATTERN.strip('^$')})?)$"
# Stands in for a token reported unusable (written in plain text, say).
NO_TOKEN = refs.Ref("env", "")
_TOKEN_HINT = (
    "job files live in Git: keep the token in the daemon's environment or in a secret "
    'file, and write `token: "${env:API_TOKEN}"` or `token: "${file:/run/secrets/api-token}"`'
)


def build(
    doc: Document, path: Path, raw: Mapping[str, object]
) -> tuple[Access | None, list[Problem]]:
    """The entry at `path` of `doc` from its usable keys `raw`, and the problems of its token.

    An entry whose token is unusable is still built, with `NO_TOKEN`, so that its
    scopes and name are checked too; its file has errors, so it never reaches a
    `Config`. None when its scopes are unusable (their shape errors are reported).
    """
    problems: list[Problem] = []
    token, text = NO_TOKEN, raw.get("token")
    if isinstance(text, str):
        found = refs.secret(text, "token", _TOKEN_HINT)
        if isinstance(found, refs.Ref):
            token = found
        else:
            problems.append(doc.problem((*path, "token"), *found))
    scopes = raw.get("scopes")
    if not isinstance(scopes, list):
        return None, problems
    line, _ = doc.position(path, key=True)
    source = Source(doc.file, line, tuple(str(p) for p in path))
    description = str(raw.get("description", ""))
    entry = Access(str(path[-1]), token, frozenset(map(str, scopes)), source, description)
    return entry, problems


def scope_issue(text: str, queues: Collection[str]) -> tuple[str, str, str] | None:
    """What is wrong with scope `text` given the defined `queues`, as (code, message, hint)."""
    if text in SCOPES:
        return None
    if not text.startswith(ONE_QUEUE):
        known = [*SCOPES, *(ONE_QUEUE + queue for queue in queues)]
        return ("scope", f"unknown scope '{text}'{did_you_mean(text, known)}", _scopes_hint())
    queue = text.removeprefix(ONE_QUEUE)
    if not names.is_valid(queue):
        fixed = names.suggest(queue)
        hint = f"write it as '{ONE_QUEUE}{fixed}'" if fixed else f"expected {names.EXPECTED}"
        message = f"invalid queue name '{queue}' in scope '{text}': {names.reason(queue)}"
        return ("scope", message, hint)
    if queue not in queues:
        message = f"unknown queue '{queue}' in scope '{text}'{did_you_mean(queue, queues)}"
        return ("reference", message, f"defined queues: {', '.join(sorted(queues)) or 'none'}")
    return None


def _scopes_hint() -> str:
    return f"scopes are {EXPECTED_SCOPES}"


def resolve_token(
    entry: Access, environ: Mapping[str, str], read_file: Callable[[str], str]
) -> str:
    """The token of `entry`, read now; `LookupError` (with a message) when it does not resolve.

    Pure, like `refs.resolve`: the caller hands in the environment and a file
    reader (`os.environ`, and a function that reads a text file). An empty
    token is refused too, since no request should match it. Compare it with
    what a request presents in constant time (`hmac.compare_digest`).
    """
    return resolve(entry.token, environ, read_file)


def resolve(ref: refs.Ref, environ: Mapping[str, str], read_file: Callable[[str], str]) -> str:
    """`refs.resolve` for a token: an empty value is a `LookupError` too."""
    token = refs.resolve(ref, environ, read_file)
    if not token:
        where = f"environment variable {ref.target}" if ref.kind == "env" else ref.target
        raise LookupError(f"{where} is empty")
    return token
