"""Where jobs wait, run and are remembered: one small protocol, two backends.

`sqlite:///path/state.db` is the embedded default (no server);
`redis://[:password@]host:port/db` (and `rediss://` for TLS) is for several
daemons on several hosts; `redis+cluster://` and `redis+sentinel://` reach a Redis
Cluster or a Sentinel-managed primary (storage/redis/connect.py, docs/storage.md).
Both backends give the guarantees of docs/runtime.md: a dequeued job is *leased*, not
removed, and comes back if its worker dies. The same contract tests run against both
(and against a Cluster).
"""

from __future__ import annotations

from jobrunner.storage.base import (
    Cancel,
    Done,
    Found,
    Lease,
    Pause,
    QueueStats,
    Reclaimed,
    Redelivery,
    Storage,
    StorageError,
    Tally,
)
from jobrunner.storage.signing import BadKey, Keys

DEFAULT_URL = "sqlite:///.jobrunner/state.db"  # embedded, next to where the daemon runs
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel")


def open_storage(url: str, keys: Keys | None = None, *, from_environment: bool = True) -> Storage:
    """Open the storage a URL names; `StorageError` with a readable message otherwise.

    Messages and values are signed with `keys`, or with the keys the environment names
    (JOBRUNNER_SIGNING_KEY, JOBRUNNER_SIGNING_KEY_FILE: storage/signing.py).
    """
    if keys is None and from_environment:
        try:
            keys = Keys.from_environment()
        except BadKey as exc:
            raise StorageError(str(exc)) from None
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from jobrunner.storage.sqlite.store import SqliteStorage

        return SqliteStorage.from_url(url, keys)
    if scheme in REDIS_SCHEMES:
        from jobrunner.storage.redis.store import RedisStorage

        return RedisStorage.from_url(url, keys)
    raise StorageError(
        f"unsupported storage URL '{redact(url)}': use sqlite:///path/to/state.db "
        "or redis://host:6379/0 (rediss:// for TLS; redis+cluster://host:port,host:port "
        "for a Cluster; redis+sentinel://host:26379/SERVICE for Sentinel)"
    )


def redact(url: str) -> str:
    """The URL with any password replaced, safe to log."""
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if ":" in auth else f"{head}{sep}***@{host}"


__all__ = [
    "DEFAULT_URL",
    "REDIS_SCHEMES",
    "Cancel",
    "Done",
    "Found",
    "Lease",
    "Pause",
    "QueueStats",
    "Reclaimed",
    "Redelivery",
    "Storage",
    "StorageError",
    "Tally",
    "open_storage",
    "redact",
]
