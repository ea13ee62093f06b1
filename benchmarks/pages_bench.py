"""Dashboard page times on real volumes (goal: every page within 100 ms server-side).

Fills a storage with `--queues` queues (100) and `--jobs` job records (100,000): per
queue, 80 % succeeded, 10 % dead with an error and 10 % waiting, written through the
storage API as daemons write them; plus 20 cron entries. Then starts a `jobrunner run
--role web` daemon (HTTP only: no worker changes the counts while it is measured) and
asks each page `--rounds` times, one request at a time on a keep-alive connection, after
a warm-up; prints the median, p95 and worst time per page as the client on loopback sees
it (the server's time and a loopback round trip), on SQLite and on a redis-server of
its own.

    python benchmarks/pages_bench.py [--queues 100] [--jobs 100000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemon_proc import Daemon
from servers import RedisServer, free_port

from jobrunner.job import Attempt, Job, Record, State, new_id
from jobrunner.storage import Storage, open_storage

CRONS = 20
BATCH = 200  # jobs leased at once while filling


def jobs_d(root: Path, queues: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "queues:"]
    for q in range(queues):
        lines += [
            f"  q{q:03}:",
            "    handler: shell",
            "    params: {command: [/bin/true]}",
            "    payload_schema:",
            "      type: object",
            "      properties: {customer: {type: integer}, kind: {enum: [a, b, c]}}",
        ]
    lines.append("cron:")
    for c in range(CRONS):
        if c % 2:
            target = f"q{c % queues:03}"
            lines.append(f'  c{c:02}: {{schedule: "{c} 3 * * *", queue: {target}, payload: {{}}}}')
        else:
            lines.append(
                f'  c{c:02}: {{schedule: "*/{c + 5} * * * *", timezone: Europe/Berlin,'
                " handler: shell, params: {command: [/bin/true]}}"
            )
    (root / "jobs.yaml").write_text("\n".join(lines) + "\n")


def fill(storage: Storage, queues: int, jobs: int) -> str:
    """Write the job records; the id of one dead job (for its page)."""
    per_queue = jobs // queues
    dead_id = ""
    started = time.monotonic()
    for q in range(queues):
        name = f"q{q:03}"
        made = {}
        for i in range(per_queue):
            job = Job(new_id(), name, {"customer": i, "kind": "abc"[i % 3]}, created=time.time())
            made[job.id] = job
            storage.enqueue(job)
        left = per_queue - per_queue // 10  # a tenth stays waiting
        while left > 0 and (
            leases := storage.lease(name, "b", count=min(BATCH, left), lease_for=600)
        ):
            left -= len(leases)
            for lease in leases:
                job, now = made[lease.job_id], time.time()
                if int(lease.job_id[-4:], 16) % 9 == 0:  # about a ninth of those that ran die
                    failed = Attempt(
                        1, now - 0.2, now, "failed", "b", "HTTPError", "503 from relay"
                    )
                    storage.bury(lease, Record(job, State.DEAD, (failed,), updated=now), 86400)
                    dead_id = lease.job_id
                else:
                    ok = Attempt(1, now - 0.01, now, "succeeded", "b")
                    storage.ack(lease, Record(job, State.SUCCEEDED, (ok,), updated=now), 86400)
    print(f"  filled {jobs:,} records in {time.monotonic() - started:.0f} s", flush=True)
    return dead_id


def measure(url: str, workdir: Path, queues: int, jobs: int, rounds: int) -> None:
    root = workdir / "jobs.d"
    jobs_d(root, queues)
    storage = open_storage(url)
    try:
        dead_id = fill(storage, queues, jobs)
    finally:
        storage.close()
    port = free_port()
    daemon = Daemon(root, url, "--role", "web", "--http", str(port), log=workdir / "web.log")
    daemon.start()
    q = f"q{queues * 42 // 100:03}"
    pages = [
        "/",
        "/fragments/overview",
        f"/queues/{q}",
        f"/queues/{q}?state=dead",
        f"/queues/{q}?field=customer&value=7",
        f"/jobs/{dead_id}",
        "/dead",
        f"/dead?error=503&queue={q}",
        "/crons/c04",
        "/config",
        "/daemons",
    ]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for page in pages:
            times = []
            for n in range(rounds + 3):
                sent = time.perf_counter()
                connection.request("GET", page)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    log = (workdir / "web.log").read_text().splitlines()[-30:]
                    raise SystemExit(f"{page}: {answer.status} {answer.reason}\n" + "\n".join(log))
                if n >= 3:  # the first answers warm caches up
                    times.append((time.perf_counter() - sent) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(
                f"  {page:<38} median {statistics.median(times):6.1f} ms"
                f"  p95 {p95:6.1f} ms  max {times[-1]:6.1f} ms"
            )
        connection.close()
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"sqlite: {args.queues} queues, {args.jobs:,} job records, {CRONS} cron entries")
        measure(f"sqlite:///{workdir / 'state.db'}", workdir / "sqlite", args.queues, args.jobs,
                args.rounds)  # fmt: skip
        server = RedisServer(workdir)
        try:
            print(f"redis: {args.queues} queues, {args.jobs:,} job records, {CRONS} cron entries")
            measure(server.url, workdir / "redis", args.queues, args.jobs, args.rounds)
        finally:
            server.stop()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
