"""The `webhooks:` section: paths of the HTTP server that turn signed deliveries into jobs.

Each entry maps a path under `/hooks/` to a queue. A delivery is trusted by
its signature, made with a shared secret by the scheme the sender uses
(`github`, `stripe`, `standard` for Standard Webhooks, or a plain `hmac` of
the body in a configured header); web/webhooks.py verifies it. The secret is
always one `${env:NAME}` or `${file:/path}` reference, resolved when a
delivery is checked, never when files are validated, and neither it nor its
reference is published or logged.

Rules checked here, per file: the path's form, the scheme ("did you mean"),
the secret being a reference, `header` for `hmac` only and required there,
`id_header` for `hmac` only, `tolerance` only for the schemes that sign a
timestamp. Across files (config/checks.py): paths are unique, the queue exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from jobrunner.config.model import Source, Webhook
from jobrunner.parse.document import Document, Path
from jobrunner.problem import Problem
from jobrunner.values import duration, refs
from jobrunner.values.suggest import did_you_mean

GITHUB, STRIPE, STANDARD, HMAC = "github", "stripe", "standard", "hmac"
SCHEMES = (GITHUB, STRIPE, STANDARD, HMAC)
TIMED = (STRIPE, STANDARD)  # the schemes that sign a timestamp: `tolerance` applies
EXPECTED_SCHEMES = "github, stripe, standard (Standard Webhooks) or hmac"
PREFIX = "/hooks/"
DEFAULT_TOLERANCE = timedelta(minutes=5)
# For editors (the published schema); `validate` words these rules itself, below.
PATH_PATTERN = r"^/hooks/[A-Za-z0-9_~-][A-Za-z0-9._~-]*(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$"
SECRET_PATTERN = r"^\$\{(env:[A-Za-z_][A-Za-z0-9_]*|file:/[^}]*)\}$"
HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
HEADER_EXPECTED = "an HTTP header name, like X-GitHub-Event"
# Stands in for a secret reported unusable.
NO_SECRET = refs.Ref("env", "")
_PATH = re.compile(PATH_PATTERN)
_SECRET_HINT = (
    "job files live in Git: keep the secret in the daemon's environment or in a secret "
    'file, and write `secret: "${env:GITHUB_WEBHOOK_SECRET}"` or '
    '`secret: "${file:/run/secrets/github-webhook}"`'
)
_PATH_HINT = "a webhook path is served under the server root, like /hooks/github"


def build(
    doc: Document, path: Path, raw: Mapping[str, object]
) -> tuple[Webhook | None, list[Problem]]:
    """The entry at `path` of `doc` from its usable keys `raw`, and its problems.

    An entry with an unusable secret, scheme or tolerance is still built, so that
    its path and queue are checked across files; its file has errors, so it never
    reaches a `Config`. None when its path or queue is unusable (shape errors).
    """
    problems: list[Problem] = []

    def error(key: str, code: str, message: str, hint: str = "", *, at_key: bool = False) -> None:
        problems.append(doc.problem((*path, key), code, message, hint, key=at_key))

    secret, text = NO_SECRET, raw.get("secret")
    if isinstance(text, str):
        found = refs.secret(text, "secret", _SECRET_HINT)
        if isinstance(found, refs.Ref):
            secret = found
        else:
            error("secret", *found)
    scheme = str(raw.get("scheme", ""))
    if "scheme" in raw and scheme not in SCHEMES:
        error(
            "scheme",
            "scheme",
            f"unknown scheme '{scheme}'{did_you_mean(scheme, SCHEMES)}",
            f"schemes are {EXPECTED_SCHEMES}",
        )
    where = raw.get("path")
    if isinstance(where, str) and (issue := path_issue(where)):
        error("path", "webhook-path", issue, _PATH_HINT)
    if scheme == HMAC and "header" not in raw:
        error(
            "scheme",
            "webhook-header",
            "the hmac scheme needs `header`: the request header that holds the signature",
            "add `header: X-Signature` (the header your sender signs into)",
        )
    for key in ("header", "id_header"):
        if key in raw and scheme in SCHEMES and scheme != HMAC:
            error(
                key,
                "ignored",
                f"`{key}` applies to the hmac scheme only; {scheme} says where its "
                "signature and delivery id are",
                f"remove `{key}`",
                at_key=True,
            )
    tolerance = DEFAULT_TOLERANCE
    if isinstance(given := raw.get("tolerance"), str | int):
        tolerance = duration.parse(given)
        if scheme in SCHEMES and scheme not in TIMED:
            error(
                "tolerance",
                "ignored",
                f"`tolerance` has no effect with the {scheme} scheme, which signs no timestamp",
                "remove `tolerance`",
                at_key=True,
            )
        elif tolerance <= timedelta(0):
            error(
                "tolerance",
                "duration",
                "a tolerance of 0 would refuse every delivery: expected a duration above 0",
                f"remove it to use the default of {duration.format(DEFAULT_TOLERANCE)}",
            )
    if not isinstance(where, str) or not isinstance(raw.get("queue"), str):
        return None, problems
    line, _ = doc.position(path, key=True)
    headers = raw.get("headers", [])
    entry = Webhook(
        name=str(path[-1]),
        path=where,
        queue=str(raw["queue"]),
        scheme=scheme,
        secret=secret,
        source=Source(doc.file, line, tuple(str(p) for p in path)),
        headers=tuple(map(str, headers)) if isinstance(headers, list) else (),
        header=str(raw.get("header", "")),
        id_header=str(raw.get("id_header", "")),
        tolerance=tolerance,
        description=str(raw.get("description", "")),
    )
    return entry, problems


def path_issue(text: str) -> str | None:
    """What is wrong with webhook path `text`, or None."""
    if not text.startswith(PREFIX):
        return f"webhook path '{text}' must start with {PREFIX}"
    if text == PREFIX:
        return f"webhook path '{text}' needs a name after {PREFIX}"
    if not _PATH.fullmatch(text):
        return (
            f"invalid webhook path '{text}': expected segments of letters, digits, "
            "'-', '_', '.' and '~' separated by single slashes, no trailing slash, "
            "none starting with '.'"
        )
    return None
