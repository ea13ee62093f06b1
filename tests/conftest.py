"""Shared fixtures: run the real `jobrunner` command, build job files in temp dirs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `jobrunner ARGS…` as a subprocess, the way operators and CI do."""
    return subprocess.run(
        [sys.executable, "-m", "jobrunner", *args],
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write `name=text` job files into a fresh jobs directory and return it."""

    def make(**files: str) -> Path:
        root = tmp_path / "jobs.d"
        root.mkdir(exist_ok=True)
        for name, text in files.items():
            path = root / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One redis-server of our own for the session; tests flush it before use."""
    from servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):  # type: ignore[no-untyped-def]
    """The URL of a flushed database on our own redis-server."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A local three-node Redis Cluster for the session (about 2s to start); flushed per test."""
    from servers import RedisCluster

    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster) -> str:  # type: ignore[no-untyped-def]
    """The redis+cluster:// URL of our own flushed cluster."""
    redis_cluster.flush()
    return str(redis_cluster.url)


@pytest.fixture(params=["sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs twice: on SQLite in a temp dir, and on our own redis-server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def store(url: str):  # type: ignore[no-untyped-def]
    """The storage behind `url`, closed after the test."""
    from jobrunner.storage import open_storage

    storage = open_storage(url)
    yield storage
    storage.close()


@pytest.fixture
def daemons(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start `jobrunner run` subprocesses; whatever is still running at the end is killed."""
    from daemon_proc import Daemon

    started: list[Daemon] = []

    def make(jobs: Path, url: str, *args: str) -> Daemon:
        daemon = Daemon(jobs, url, *args, log=tmp_path / f"daemon-{len(started)}.log")
        started.append(daemon)
        return daemon.start()

    yield make
    for daemon in started:
        if daemon.process and daemon.process.poll() is None:
            daemon.kill()
