"""HTTP enqueue on loopback (goal: at least 1,000 enqueues/s, p99 at most 20 ms).

Starts a `jobrunner run --role web` daemon (HTTP only, so no worker competes for
the CPU) on a fresh SQLite file, and on a redis-server of its own when one can
be started; then `--clients` threads, each with one keep-alive connection,
POST `/api/v1/queues/work/jobs` as fast as the server answers for `--seconds`
after a warm-up. Every answer must be 201. Prints the rate and the latency of
each request (sent to answer read, as the client sees it), and the load average.

    python benchmarks/http_enqueue_bench.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import APPS, Daemon
from latency import report
from servers import RedisServer, free_port

JOBS = """\
version: 1
queues:
  work:
    handler: python
    params: {callable: "jobapp:record"}
    payload_schema:
      type: object
      required: [n]
      properties: {n: {type: integer}, note: {type: string}}
"""


def client(port: int, until: float, warm: float, latencies: list[float], errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/json"}
    n = 0
    try:
        while (now := time.monotonic()) < until:
            body = json.dumps({"payload": {"n": n, "note": "benchmark"}})
            sent = time.perf_counter()
            connection.request("POST", "/api/v1/queues/work/jobs", body, headers)
            answer = connection.getresponse()
            answer.read()
            took = time.perf_counter() - sent
            if answer.status != 201:
                errors.append(f"{answer.status} {answer.reason}")
            elif now >= warm:
                latencies.append(took)
            n += 1
    finally:
        connection.close()


def wait_for(port: int, timeout: float = 30.0) -> None:
    """Until the server answers /healthz (it starts just after the daemon's "ready")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def measure(url: str, workdir: Path, seconds: float, clients: int, warmup: float) -> None:
    jobs = workdir / "jobs.d"
    jobs.mkdir(exist_ok=True)
    (jobs / "work.yaml").write_text(JOBS)
    port = free_port()
    daemon = Daemon(
        jobs, url, "--role", "web", "--http", str(port), log=workdir / "daemon.log"
    ).start()
    try:
        wait_for(port)
        latencies: list[float] = []
        errors: list[str] = []
        start = time.monotonic()
        warm, until = start + warmup, start + warmup + seconds
        threads = [
            threading.Thread(target=client, args=(port, until, warm, latencies, errors))
            for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise SystemExit(f"{len(errors)} requests failed, the first: {errors[0]}")
        name = url.split(":")[0]
        print(f"{name:<8} {len(latencies) / seconds:7.0f} enqueues/s, {clients} clients")
        report(name, latencies)
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(APPS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sqlite = f"sqlite:///{workdir / 'state.db'}"
        measure(sqlite, workdir, args.seconds, args.clients, args.warmup)
        try:
            server = RedisServer(workdir)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"redis    skipped: {exc}")
            return
        try:
            measure(server.url, workdir, args.seconds, args.clients, args.warmup)
        finally:
            server.stop()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
