"""From a storage URL to a Redis client: one server, a Cluster, or a Sentinel-managed primary.

    redis://[:password@]host:port/db                 one server (rediss:// for TLS)
    redis+cluster://[:password@]host:port[,host:port…]     a Redis Cluster (rediss+cluster://)
    redis+sentinel://[:password@]host:port[,host:port…]/SERVICE[/DB]
                                                     the primary Sentinel names SERVICE,
                                                     followed across failovers

Every form takes `?durability=async|replicated` (and `replicas=N`, `wait_timeout=500ms`):
with `replicated`, each write a job's fate depends on is followed by `WAIT` on the same
connection (contain.py), so an acknowledged write is on N replicas before the caller
hears of it. A Cluster takes no `replicated` yet: a cluster pipeline spreads a batch over
several connections, and WAIT only vouches for the writes of its own.

The query options of the plain form that redis-py knows (socket_timeout=…) still work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from jobrunner.storage import redact
from jobrunner.storage.base import StorageError

SOCKET_TIMEOUT, CONNECT_TIMEOUT = 4.0, 3.0  # seconds without an answer, to connect
WAIT_TIMEOUT_MS = 1000  # how long a replicated write waits for its replicas by default
DURATION = re.compile(r"([0-9]+)(ms|s)?")
FORMS = (
    "redis://[:password@]host:port/db (rediss:// for TLS), "
    "redis+cluster://[:password@]host:port[,host:port…], or "
    "redis+sentinel://[:password@]host:port[,host:port…]/SERVICE[/DB]; "
    "options: ?durability=async|replicated&replicas=1&wait_timeout=1000ms"
)
Client = redis.Redis | RedisCluster


class Cluster(RedisCluster):
    """A RedisCluster whose pipelines encode keys as it does.

    redis-py's ClusterPipeline builds its own encoder without `encoding_errors`, so a key
    holding a job id read back with surrogate escapes cannot even be hashed to its slot.
    """

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
        pipe.encoder = self.encoder
        return pipe


@dataclass(frozen=True, slots=True)
class Durability:
    """How many replicas must hold a write before it is acknowledged (0: none, async)."""

    replicas: int = 0
    timeout_ms: int = WAIT_TIMEOUT_MS


ASYNC = Durability()


def connect(url: str) -> tuple[Client, Durability]:
    """A thread-safe pooled client and the durability the URL asks for.

    A command that gets no answer fails after SOCKET_TIMEOUT (a frozen or partitioned
    server), retried once: a producer hears of it within seconds, never hangs. The URL's
    own `?socket_timeout=…&socket_connect_timeout=…` (seconds) win over these.
    """
    scheme = url.split(":", 1)[0].lower()
    try:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError as exc:
        raise bad(url, str(exc)) from None
    durability = read_durability(url, options)
    if scheme in ("redis", "rediss"):
        plain = urlunsplit(parts._replace(query=urlencode(options)))
        try:
            return redis.Redis.from_url(plain, **common()), durability
        except (ValueError, TypeError) as exc:
            raise bad(url, str(exc)) from None
    auth, hosts = split_hosts(url, parts.netloc)
    timeouts = read_timeouts(url, options)
    if options:
        raise bad(url, f"unknown option(s) {', '.join(sorted(options))}")
    if scheme in ("redis+cluster", "rediss+cluster"):
        if durability.replicas:
            raise bad(url, "durability=replicated is not supported on a cluster")
        if parts.path.strip("/"):
            raise bad(url, "a cluster has no database number or service name in its path")
        nodes = [ClusterNode(host, port) for host, port in hosts]  # type: ignore[no-untyped-call]
        kwargs = {**common(), **timeouts, "ssl": scheme.startswith("rediss")}
        try:  # a cluster client asks its nodes for the slot map at once
            return Cluster(startup_nodes=nodes, password=auth, **kwargs), durability
        except (RedisClusterException, redis.RedisError) as exc:
            raise StorageError(f"cannot reach {redact(url)}: {scrub(trouble(exc), url)}") from None
    if scheme == "redis+sentinel":
        service, db = read_service(url, parts.path)
        sentinel = Sentinel(hosts, sentinel_kwargs={"socket_timeout": CONNECT_TIMEOUT})
        kwargs = {**common(), **timeouts, "db": db, "password": auth}
        return sentinel.master_for(service, **kwargs), durability
    raise bad(url, f"unknown scheme '{scheme}'")


def common() -> dict[str, Any]:
    return {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": 30,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1),
        "encoding_errors": "surrogateescape",
        "client_name": "jobrunner",
    }


def read_durability(url: str, options: dict[str, str]) -> Durability:
    """`durability`, `replicas` and `wait_timeout`, taken out of `options`."""
    mode = options.pop("durability", "async")
    replicas, timeout = options.pop("replicas", "1"), options.pop("wait_timeout", "")
    if mode not in ("async", "replicated"):
        raise bad(url, f"durability={mode}: use durability=async or durability=replicated")
    if not replicas.isdigit() or int(replicas) < 1:
        raise bad(url, f"replicas={replicas}: use a whole number of at least 1")
    found = DURATION.fullmatch(timeout) if timeout else None
    if timeout and (found is None or int(found[1]) == 0):
        raise bad(url, f"wait_timeout={timeout}: use milliseconds, like wait_timeout=500ms")
    timeout_ms = WAIT_TIMEOUT_MS
    if found is not None:
        timeout_ms = int(found[1]) * (1000 if found[2] == "s" else 1)
    if mode == "async":
        return Durability()
    if timeout_ms >= SOCKET_TIMEOUT * 1000:
        raise bad(url, f"wait_timeout={timeout}: keep it under {SOCKET_TIMEOUT:g}s")
    return Durability(int(replicas), timeout_ms)


def read_timeouts(url: str, options: dict[str, str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in options:
            try:
                found[name] = float(options.pop(name))
            except ValueError:
                raise bad(url, f"{name} is in seconds, like {name}=4") from None
    return found


def split_hosts(url: str, netloc: str) -> tuple[str | None, list[tuple[str, int]]]:
    """The password and the host:port list of `[:password@]host:port[,host:port…]`."""
    auth, _, hosts = netloc.rpartition("@")
    password = unquote(auth.partition(":")[2]) if auth else None
    found = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise bad(url, f"'{host}' is not host:port")
        found.append((name.strip("[]"), int(port)))
    return password or None, found


def read_service(url: str, path: str) -> tuple[str, int]:
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise bad(url, "name the Sentinel service after the hosts, like …:26379/mymaster")
    if db and not db.isdigit():
        raise bad(url, f"database '{db}' is not a number")
    return service, int(db or 0)


def trouble(exc: Exception) -> str:
    """What went wrong reaching Redis, in short (a Sentinel's "no master found" carries the
    whole client's repr)."""
    if isinstance(exc, MasterNotFoundError):
        found, _, cause = str(exc).partition(" : ")
        why = cause.rpartition(" - ")[2] or "none names a healthy primary (a failover under way?)"
        return f"{found} (check the Sentinel addresses and the service name in the URL): {why}"
    return str(exc)


def scrub(message: str, url: str) -> str:
    """`message` without the URL's password, whatever a library put in it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return message
    return message.replace(unquote(password), "***") if password else message


def bad(url: str, why: str) -> StorageError:
    return StorageError(f"bad storage URL '{redact(url)}': {scrub(why, url)}; expected {FORMS}")
