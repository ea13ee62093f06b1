"""`jobrunner run`: the daemon."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jobrunner.cli.options import seconds, storage_url

if TYPE_CHECKING:
    from jobrunner.web.server import HttpServer


@click.command(context_settings={"auto_envvar_prefix": "JOBRUNNER"})
@click.option(
    "--jobs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="jobs.d",
    show_default=True,
    envvar="JOBRUNNER_JOBS_DIR",
    help="Directory of job files (also JOBRUNNER_JOBS_DIR).",
)
@storage_url
@click.option(
    "--role",
    type=click.Choice(["all", "scheduler", "worker", "web"]),
    default="all",
    show_default=True,
    envvar="JOBRUNNER_ROLE",
    help="worker: run jobs; scheduler: fire cron ticks; all: both; web: serve HTTP only "
    "(health, metrics and the deployment's queue figures), on --http or 127.0.0.1:8080.",
)
@click.option(
    "--http",
    "http",
    default=None,
    envvar="JOBRUNNER_HTTP",
    metavar="ADDR",
    help="Also serve HTTP (/healthz, /readyz, /metrics) on ADDR: PORT, HOST:PORT or "
    "[IPV6]:PORT; the host defaults to 127.0.0.1. Loopback only for now.",
)
@click.option(
    "--queues",
    default="",
    envvar="JOBRUNNER_QUEUES",
    metavar="A,B",
    help="Serve only these queues (comma-separated); default: all.",
)
@click.option(
    "--processes",
    default="auto",
    show_default=True,
    envvar="JOBRUNNER_PROCESSES",
    metavar="N|auto",
    callback=lambda ctx, param, value: _processes(value),
    help="Processes that run jobs: this one and N - 1 worker processes it starts and stops "
    "with it, so one daemon uses every core. auto: up to one per CPU this process may use, "
    "the others started when this one has more jobs than it can run, each exiting after "
    "--processes-idle with no job (an idle daemon is one process). "
    "Only roles all and worker run more than one.",
)
@click.option(
    "--processes-idle",
    default="60s",
    show_default=True,
    envvar="JOBRUNNER_PROCESSES_IDLE",
    callback=seconds,
    help="With --processes auto: how long a worker process runs with no job before it exits.",
)
@click.option(
    "--exit-when-idle",
    default=None,
    envvar="JOBRUNNER_EXIT_WHEN_IDLE",
    callback=lambda ctx, param, value: None if value is None else seconds(ctx, param, value),
    metavar="DURATION",
    help="Exit (status 0, as a stop does) once this process has run no job for DURATION: "
    "the daemon's on-demand worker processes use it (--processes auto). Default: never.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    envvar="JOBRUNNER_THREADS",
    help="Worker threads of one process at most, shared by every queue it serves (never "
    "fewer than the largest concurrency of one queue).",
)
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    envvar="JOBRUNNER_GRACE",
    callback=seconds,
    help="On SIGTERM, how long running jobs may finish.",
)
@click.option(
    "--lease",
    "lease_for",
    default="30s",
    show_default=True,
    envvar="JOBRUNNER_LEASE",
    callback=seconds,
    help="How long a job stays leased without a heartbeat before another "
    "daemon may run it again (heartbeats every third of it).",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    envvar="JOBRUNNER_WATCH",
    help="Reload when files under the jobs directory change (SIGHUP always reloads).",
)
@click.option(
    "--signing-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="JOBRUNNER_SIGNING_KEY_FILE",
    help="Sign and check every message and stored copy of configuration with the keys "
    "in this file (one a line, the first signs); also JOBRUNNER_SIGNING_KEY. "
    "Set one for any shared Redis.",
)
@click.option(
    "--strict/--no-strict",
    default=True,
    show_default=True,
    envvar="JOBRUNNER_STRICT",
    help="Running as root, refuse a jobs directory or job file that is writable by group "
    "or others or owned by another user (a refused file keeps its last good version).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "human", "json"]),
    default="auto",
    show_default=True,
    envvar="JOBRUNNER_LOG_FORMAT",
    help="auto: human on a terminal, JSON lines otherwise.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="JOBRUNNER_LOG_LEVEL",
)
def run(
    jobs_dir: Path,
    storage: str,
    role: str,
    http: str | None,
    queues: str,
    processes: int | None,
    processes_idle: float,
    exit_when_idle: float | None,
    threads: int,
    grace: float,
    lease_for: float,
    watch: bool,
    signing_key_file: Path | None,
    strict: bool,
    log_format: str,
    log_level: str,
) -> None:
    """Run the daemon: serve the queues and fire the cron entries of the job files.

    Every option can also be set with a JOBRUNNER_* environment variable
    (JOBRUNNER_STORAGE, JOBRUNNER_ROLE, …). With no options, a fresh checkout
    runs on the embedded SQLite storage under .jobrunner/.

    Changes under the jobs directory apply within a second, without a
    restart (SIGHUP reloads too); a file that fails validation keeps its last
    good version in force, and the error shows in the log and `jobrunner status`.

    SIGTERM or SIGINT stops taking jobs and lets running ones finish for up
    to --grace; a second signal exits at once. Unfinished jobs are delivered
    again later, by this or another daemon.

    \b
    Examples:
      jobrunner run                                    # ./jobs.d on .jobrunner/state.db
      jobrunner run --storage redis://redis:6379/0 --role worker --queues emails
      JOBRUNNER_STORAGE=redis://redis:6379/0 jobrunner run --log-format json
      jobrunner run --http 9100                        # and /metrics on 127.0.0.1:9100
      jobrunner run --role web --http 127.0.0.1:8080   # HTTP only, for the deployment
    """
    from jobrunner import logs
    from jobrunner.daemon import start, workers
    from jobrunner.daemon.settings import Settings
    from jobrunner.storage.signing import BadKey, Keys

    if not jobs_dir.is_dir():
        raise click.UsageError(f"jobs directory '{jobs_dir}' does not exist")
    try:
        keys = Keys.from_file(signing_key_file) if signing_key_file else Keys.from_environment()
    except BadKey as exc:
        raise click.UsageError(str(exc)) from None
    services = _http(http, role, jobs_dir)
    number = workers.process_number()
    logs.setup(log_format, log_level, always={"process": number} if number else None)
    on_demand = processes is None  # auto
    if processes is None:
        processes = workers.available_cpus()
    if role not in ("all", "worker"):
        processes = 1
    worker = [sys.executable, "-m", "jobrunner", "run", "--role", "worker", "--processes", "1"]
    worker += ["--jobs-dir", str(jobs_dir), "--queues", queues, "--grace", f"{grace}s"]
    worker += ["--threads", str(threads)]
    # A worker process does not watch the files: the daemon passes each change on (SIGURG).
    worker += ["--lease", f"{lease_for}s", "--no-watch"]
    worker += ["--strict" if strict else "--no-strict", "--log-format", log_format]
    worker += ["--log-level", log_level]
    if on_demand:
        worker += ["--exit-when-idle", f"{processes_idle}s"]
    if signing_key_file is not None:
        worker += ["--signing-key-file", str(signing_key_file)]
    settings = Settings(
        jobs_dir=jobs_dir,
        storage=storage,
        role=role,
        queues=tuple(q.strip() for q in queues.split(",") if q.strip()),
        grace=grace,
        lease_for=lease_for,
        watch=watch,
        keys=keys,
        strict=strict,
        worker_command=tuple(worker),
        worker_env={"JOBRUNNER_STORAGE": storage},  # not on a command line `ps` shows
        processes=processes,
        on_demand=on_demand,
        exit_when_idle=exit_when_idle,
        threads=threads,
    )
    raise SystemExit(start.run(settings, services=services))


def _processes(value: str) -> int | None:
    """--processes: a whole number of at least 1, or None for auto (on demand, up to the
    CPUs this process may use)."""
    if value.strip().lower() == "auto":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise click.BadParameter(f"'{value}': give a whole number of at least 1, or auto")
    return int(value)


def _http(value: str | None, role: str, jobs_dir: Path) -> list[HttpServer]:
    """The HTTP server `--http` (or the web role) asks for, if any; another address than
    loopback only when the job files declare who may call it (`access:`)."""
    if value is None and role != "web":
        return []  # and FastAPI, pydantic and uvicorn are never imported (idle RSS)
    from jobrunner.web import address
    from jobrunner.web.server import HttpServer

    try:
        where = address.parse(value or str(address.DEFAULT_PORT))
    except address.BadAddress as exc:
        raise click.BadParameter(str(exc), param_hint="--http") from None
    if not where.loopback and not _declares_access(jobs_dir):
        raise click.BadParameter(
            f"{where} is not a loopback address, and the job files in {jobs_dir} declare no "
            "`access:` entry: anyone who reaches the port could call the API. Declare "
            "bearer tokens (docs/jobfile.md, access), or listen on loopback, such as "
            "127.0.0.1:8080",
            param_hint="--http",
        )
    return [HttpServer(where, cluster=role == "web")]


def _declares_access(jobs_dir: Path) -> bool:
    """Whether the job files declare an access entry (a reload that removes every one later
    makes the server refuse every request but health: web/access.py)."""
    from jobrunner.config import load

    return bool(load([jobs_dir]).config.access)
