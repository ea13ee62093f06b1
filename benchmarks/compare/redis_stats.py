"""Redis servers of the harness's own, and what they tell: commands served, clients.

Every measurement gets a fresh measured server (and a fresh tally server, see
`peers/apps/tally.py`), so no system sees another's keys, scripts or stats.
The servers are tests/servers.py's RedisServer: no persistence, a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from servers import RedisServer


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A fresh redis-server's URL, stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(workdir)
    try:
        yield server.url
    finally:
        server.stop()


class CommandStats:
    """Commands a server ran since `reset`, from INFO commandstats, less the harness's own.

    One connection of its own (its handshake happens before the reset), so the
    only commands to subtract are the reset itself and the INFO calls before
    the current one (a command is counted once it has run).
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, single_connection_client=True)
        self.reset()

    def reset(self) -> None:
        self.client.config_resetstat()
        self._infos = 0

    def by_command(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        counts = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        counts["config|resetstat"] = counts.get("config|resetstat", 1) - 1
        counts["info"] = counts.get("info", 0) - self._infos
        self._infos += 1
        return {name: n for name, n in counts.items() if n}

    def calls(self) -> int:
        return sum(self.by_command().values())

    def close(self) -> None:
        self.client.close()


def clients(url: str) -> int:
    """Connections to the server other than the one asking (CLIENT LIST)."""
    with redis.Redis.from_url(url, single_connection_client=True) as client:
        return len(client.client_list()) - 1


def server_version(url: str) -> str:
    with redis.Redis.from_url(url) as client:
        return str(client.info("server")["redis_version"])
