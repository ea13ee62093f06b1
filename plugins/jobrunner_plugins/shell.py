"""`shell`: run a command; the payload arrives as JSON on its standard input.

```yaml
handler: shell
params:
  command: ["/usr/local/bin/report", "--kind", "daily"]   # argv, no shell involved
  env: {REPORT_TOKEN: "${env:REPORT_TOKEN}"}
  cwd: /srv/reports
  permanent_exit_codes: [2]      # these exit codes are not retried
```

The command runs in a session (and process group) of its own, with `env`
merged over the daemon's environment, in `cwd`, reading the payload as JSON
on standard input. Its stdout and stderr are read until every process that
holds them has closed them; each keeps its last `max_output` bytes, after a
line saying how many earlier bytes were dropped.

- Exit code 0 is success: the result is `{"exit_code": 0, "stdout": …,
  "stderr": …}` (text, invalid UTF-8 replaced), plus `"result"` with stdout
  parsed when it is one whole JSON document.
- An exit code listed in `permanent_exit_codes` raises `PermanentError`, any
  other failure (exit code, or death by a signal) a retryable `RuntimeError`;
  both name the code and end with the tail of stderr.
- A command that cannot be started (no such file, not executable, no such
  working directory) raises `PermanentError`.
- With a `memory_limit` on the queue (`ctx.memory_limit`), the command and
  what it starts may map at most that many bytes (RLIMIT_AS): an allocation
  past it fails in the command, and the error of a failed command says it ran
  under that limit, since its exit status alone cannot tell.
- At the attempt's deadline the whole process group gets SIGTERM, and SIGKILL
  after `KILL_GRACE` seconds if any of it is left; the attempt raises
  `TimeoutError`. A cancelled job (`ctx.cancelled`) gets the same within a
  tenth of a second of the worker hearing of it, and raises `Cancelled`.
  Process groups still running when the daemon's interpreter exits get the
  same treatment from an `atexit` handler.

A string `command` runs through `sh -c` and needs `shell: true`, so a shell
is only ever involved when asked for. The values of `env` are never logged
nor returned.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from jobrunner.plugin import (
    Cancelled,
    CheckOptions,
    JobContext,
    ParamIssue,
    PermanentError,
    Plugin,
    child_setup,
    size,
)

DEFAULT_MAX_OUTPUT = 65536
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
CANCEL_LOOK = 0.1  # seconds between looks at `ctx.cancelled` while the command runs
ERROR_TAIL = 2000  # characters of stderr quoted in an error message
_CHUNK = 65536

# Process groups of the commands running now, killed if the interpreter exits.
_running: set[int] = set()
_running_lock = threading.Lock()


class Shell(Plugin):
    name = "shell"
    applies_memory_limit = True
    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "description": "Run a command; the payload arrives as JSON on standard input.",
        "additionalProperties": False,
        "required": ["command"],
        "properties": {
            "command": {
                "description": "argv list, or a string for `sh -c` (needs `shell: true`)",
                "type": ["array", "string"],
                "items": {"type": "string"},
                "minItems": 1,
                "minLength": 1,
            },
            "shell": {
                "description": "run a string `command` with `sh -c`",
                "type": "boolean",
                "default": False,
            },
            "env": {
                "description": "extra environment variables for the command",
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "cwd": {"description": "working directory", "type": "string", "minLength": 1},
            "permanent_exit_codes": {
                "description": "exit codes that fail the job without retrying",
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 255},
                "uniqueItems": True,
            },
            "max_output": {
                "description": "bytes of stdout and stderr kept with the result",
                "type": "integer",
                "minimum": 0,
                "default": 65536,
            },
        },
    }

    @classmethod
    def check(cls, params: Mapping[str, Any], options: CheckOptions) -> Iterator[ParamIssue]:
        command, shell = params.get("command"), params.get("shell", False)
        if isinstance(command, str) and not shell:
            yield ParamIssue(
                ("command",),
                "a string command needs `shell: true`",
                'write it as a list (`["/usr/bin/prog", "--flag"]`), '
                "or set `shell: true` to run it with sh -c",
            )
        if isinstance(command, list) and shell:
            yield ParamIssue(
                ("shell",),
                "`shell: true` takes a string command, but `command` is a list",
                "remove `shell: true`, or write the command as one string",
            )
        cwd = params.get("cwd")
        if isinstance(cwd, str) and not cwd.startswith(("/", "$")):
            yield ParamIssue(
                ("cwd",),
                f"relative working directory '{cwd}' depends on where the daemon started",
                "use an absolute path",
                warning=True,
            )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        command, shell = params["command"], bool(params.get("shell", False))
        if isinstance(command, str) != shell:
            raise ValueError("`shell: true` goes with a string command, a list runs without")
        self.argv: list[str] = ["/bin/sh", "-c", command] if shell else list(command)
        # Messages name the program, never the script: params may hold resolved secrets.
        self.label = "the `sh -c` command" if shell else f"'{command[0]}'"
        self.env: dict[str, str] = dict(params.get("env", {}))
        self.cwd: str | None = params.get("cwd")
        self.permanent = frozenset(params.get("permanent_exit_codes", ()))
        self.max_output: int = params.get("max_output", DEFAULT_MAX_OUTPUT)

    def run(self, ctx: JobContext, payload: Any) -> Any:
        started = time.monotonic()
        if ctx.deadline <= started:  # never start what may not run at all
            raise TimeoutError(f"{self.label} was not started: no time was left before its timeout")
        out, err = _Tail(self.max_output), _Tail(self.max_output)
        process, finished = self._start(ctx.memory_limit), False
        try:
            data = json.dumps(payload).encode()
            finished = _exchange(process, data, ctx, out, err) and _wait(process, ctx)
        finally:
            if not finished:  # the deadline, or an error here: none of it may linger
                _stop_group(process)
            with _running_lock:
                _running.discard(process.pid)
            for pipe in (process.stdin, process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        if not finished and ctx.cancelled:
            raise Cancelled(f"{self.label} was cancelled; its process group was killed")
        if not finished:
            raise TimeoutError(
                f"{self.label} was still running at its timeout of "
                f"{ctx.deadline - started:.1f}s; its process group was killed"
            )
        return self._outcome(process.returncode, out.text(), err.text(), ctx.memory_limit)

    def _start(self, memory_limit: int | None) -> subprocess.Popen[bytes]:
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
                # SIGKILLed if the daemon dies first; mapping at most `memory_limit` bytes
                preexec_fn=child_setup(memory_limit),
                bufsize=0,
            )
        except OSError as exc:
            raise self._not_started(exc) from None
        with _running_lock:
            _running.add(process.pid)  # its own session: the process group id is its pid
        return process

    def _not_started(self, exc: OSError) -> Exception:
        if self.cwd is not None and exc.filename == self.cwd:
            return PermanentError(f"cannot use working directory '{self.cwd}': {exc.strerror}")
        if isinstance(exc, FileNotFoundError | PermissionError) or exc.errno == errno.ENOEXEC:
            return PermanentError(
                f"cannot run '{self.argv[0]}': {exc.strerror}; check the command's path "
                "and that it is executable by the daemon's user"
            )
        return exc  # e.g. out of memory or processes: worth another try

    def _outcome(
        self, code: int, stdout: str, stderr: str, memory_limit: int | None
    ) -> dict[str, Any]:
        if code == 0:
            result: dict[str, Any] = {"exit_code": 0, "stdout": stdout, "stderr": stderr}
            with contextlib.suppress(ValueError):
                if stdout.strip():
                    result["result"] = json.loads(stdout, parse_constant=_no_constant)
            return result
        tail = stderr[-ERROR_TAIL:].strip() or "(nothing on stderr)"
        # The exit status cannot say whether an allocation failed: say that one could have.
        limit = (
            ""
            if memory_limit is None
            else (
                f" under its memory_limit of {size.format(memory_limit)}, past which "
                "allocations fail (maybe the cause)"
            )
        )
        if code < 0:
            raise RuntimeError(
                f"{self.label} was killed by {_signal_name(-code)}{limit}; stderr: {tail}"
            )
        if code in self.permanent:
            raise PermanentError(
                f"{self.label} exited with {code}{limit}, listed in permanent_exit_codes; "
                f"stderr: {tail}"
            )
        raise RuntimeError(f"{self.label} exited with {code}{limit}; stderr: {tail}")


class _Tail:
    """The last `limit` bytes of a stream, and how many bytes came before them."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.dropped = limit, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.kept += chunk
        excess = len(self.kept) - self.limit
        if excess > 0:
            del self.kept[:excess]
            self.dropped += excess

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            return f"[truncated: {self.dropped} earlier bytes dropped]\n{text}"
        return text


def _exchange(
    process: subprocess.Popen[bytes], data: bytes, ctx: JobContext, out: _Tail, err: _Tail
) -> bool:
    """Feed stdin, read stdout and stderr until both close; False if the deadline or a
    cancel came first."""
    assert process.stdin and process.stdout and process.stderr
    stdin = process.stdin.fileno()
    os.set_blocking(stdin, False)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        selector.register(stdin, selectors.EVENT_WRITE)
        reading = 2
        while reading:
            left = ctx.deadline - time.monotonic()
            if left <= 0 or ctx.cancelled:
                return False
            for key, _ in selector.select(min(left, CANCEL_LOOK)):
                if key.fd == stdin:
                    data = _feed(stdin, data)
                    if not data:
                        selector.unregister(stdin)
                        process.stdin.close()  # end of input
                elif chunk := os.read(key.fd, _CHUNK):
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
                    reading -= 1
    return True


def _wait(process: subprocess.Popen[bytes], ctx: JobContext) -> bool:
    """Wait for the command to exit (its output is closed already); False at the deadline
    or a cancel."""
    while (left := ctx.deadline - time.monotonic()) > 0 and not ctx.cancelled:
        try:
            process.wait(min(left, CANCEL_LOOK))
        except subprocess.TimeoutExpired:
            continue
        return True
    return False


def _feed(fd: int, data: bytes) -> bytes:
    """Write what the pipe takes now; what is left (nothing once the reader has gone)."""
    try:
        return data[os.write(fd, data[:_CHUNK]) :]
    except BlockingIOError:
        return data
    except BrokenPipeError:
        return b""


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL what is left after the grace."""
    _signal_group(process.pid, signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE
    while time.monotonic() < end:
        if process.poll() is not None and not _group_alive(process.pid):
            break
        time.sleep(0.02)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


@atexit.register
def _stop_all() -> None:
    """The daemon is exiting: no command it started may outlive it."""
    with _running_lock:
        groups = list(_running)
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE
    while groups and time.monotonic() < end:
        groups = [g for g in groups if _group_alive(g)]
        time.sleep(0.02)
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
