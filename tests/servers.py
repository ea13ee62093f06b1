"""Real servers for tests: redis-servers of our own on free ports, never the shared one.

A single server, a local Cluster, and a primary with a replica under Sentinel; and the
Debian binaries tests run (`tool`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis


def tool(name: str) -> str:
    """Debian's prometheus package's binary; .ci/run installs it, so CI never skips."""
    import pytest  # here: the benchmarks import this module without the test extras

    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: .ci/run installs Debian's prometheus")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server process (no persistence) for one test session."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        """A new server; with `port`, on that port (to bring a stopped one back)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def spawn(binary: str, *args: str) -> subprocess.Popen[bytes]:
    """A redis-server (or sentinel) process with `args`, its output discarded."""
    return subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not happen within {timeout:g}s")


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return binary


class RedisCluster:
    """A local Redis Cluster of `size` primaries (no replicas), each on a free port."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.ports = [free_port() for _ in range(size)]
        self.processes = []
        for port in self.ports:
            folder = workdir / str(port)
            folder.mkdir()
            self.processes.append(
                spawn(
                    redis_binary(),
                    *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
                    *("--appendonly", "no", "--dir", str(folder)),
                    *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                    *("--cluster-port", str(free_port())),  # not port + 10000: may be > 65535
                )
            )
        for port in self.ports:
            wait_until(lambda port=port: redis.Redis(port=port).ping(), f"node {port} up")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        if size == 1:  # redis-cli wants three masters: one node gets every slot itself
            redis.Redis(port=self.ports[0]).execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)
        else:
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *nodes,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
            )
        for port in self.ports:
            wait_until(
                lambda port=port: redis.Redis(port=port).cluster("INFO")["cluster_state"] == "ok",
                f"cluster state ok on {port}",
            )
        self.url = "redis+cluster://" + ",".join(nodes)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def flush(self) -> None:
        for port in self.ports:
            client = redis.Redis(port=port)
            client.flushall()
            client.close()

    def stop(self) -> None:
        for process in self.processes:
            stop(process)


class RedisSentinel:
    """A primary, one replica and `sentinels` Sentinels watching them as `service`.

    Failover is quick on purpose (down after 500ms); `url(...)` is the storage URL.
    """

    def __init__(self, workdir: Path, sentinels: int = 1, service: str = "jr") -> None:
        self.workdir, self.service = workdir, service
        self.ports = [free_port(), free_port()]  # [primary, replica] as started
        self.servers = [self._server(self.ports[0]), self._server(self.ports[1], self.ports[0])]
        wait_until(
            lambda: (
                redis.Redis(port=self.ports[1]).info("replication")["master_link_status"] == "up"
            ),
            "replica in sync",
        )
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels = []
        for port in self.sentinel_ports:
            conf = workdir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"sentinel monitor {service} 127.0.0.1 {self.ports[0]} 1\n"
                f"sentinel down-after-milliseconds {service} 500\n"
                f"sentinel failover-timeout {service} 3000\n"
            )
            self.sentinels.append(spawn(redis_binary(), str(conf), "--sentinel"))
        for port in self.sentinel_ports:
            wait_until(
                lambda port=port: (
                    len(redis.Redis(port=port).execute_command("SENTINEL", "REPLICAS", service))
                    == 1
                ),
                f"sentinel {port} seeing the replica",
            )

    def _server(self, port: int, primary: int | None = None) -> subprocess.Popen[bytes]:
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir)]
        args += ["--client-output-buffer-limit", "replica 1mb 0 0"]  # a stalled replica is cut
        if primary is not None:
            args += ["--replicaof", "127.0.0.1", str(primary)]
        return spawn(redis_binary(), *args)

    def url(self, options: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0" + (f"?{options}" if options else "")

    def primary(self) -> int:
        """The port of the primary Sentinel names now."""
        sentinel = redis.Redis(port=self.sentinel_ports[0])
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return int(port)

    def process(self, port: int) -> subprocess.Popen[bytes]:
        return self.servers[self.ports.index(port)]

    def restart(self, port: int) -> None:
        """Bring a killed server back on its port, as a replica of the current primary."""
        self.servers[self.ports.index(port)] = self._server(port, self.primary())

    def stop(self) -> None:
        for process in self.sentinels + self.servers:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a test may have left it stopped
        process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
