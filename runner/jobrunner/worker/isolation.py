"""`isolation: process`: run a handler in a child process that is killed at the timeout.

The child is `python -m jobrunner.worker.isolation`, in a session of its own so the
whole process group goes at the deadline (or at a cancel). It reads one request (plugin name,
resolved params, job context, payload) as JSON on stdin and writes one answer
as JSON on the original stdout; the handler's own prints go to stderr. A
child that crashes or leaks only takes itself down, never the daemon. With a
`memory_limit`, the child maps at most that much (`rlimit.child_setup`): a
handler that allocates past it fails its attempt with a MemoryError that
names the limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

from jobrunner.plugin import Cancelled, JobContext, PermanentError, RetryLater
from jobrunner.rlimit import child_setup
from jobrunner.values import size

MAX_STDERR = 4000  # the tail of the handler's own output kept for an error message
MAX_ANSWER = 16 * 1024 * 1024  # bytes of answer (the result as JSON) read from the child
CANCEL_LOOK = 0.1  # seconds between looks at `ctx.cancelled` while the child runs
SETUP_ERROR = "SetupError"  # attempt.SetupError's name: the child could not set the handler up


class ChildFailed(Exception):
    """The child process died without an answer, or its handler raised.

    `type_name` and `remote_traceback` describe the handler's own exception,
    so the job's history shows it, not this wrapper.
    """

    def __init__(self, message: str, type_name: str = "ChildFailed", remote_traceback: str = ""):
        super().__init__(message)
        self.type_name, self.remote_traceback = type_name, remote_traceback


def run(plugin: str, params: Any, ctx: JobContext, payload: Any) -> Any:
    """Run `plugin` in a child process; return its result or raise what it raised."""
    request = {
        "plugin": plugin,
        "params": params,
        "ctx": {
            "job_id": ctx.job_id,
            "queue": ctx.queue,
            "attempt": ctx.attempt,
            "idempotency_key": ctx.idempotency_key,
            "trace_id": ctx.trace_id,
            "memory_limit": ctx.memory_limit,
        },
        "timeout": max(0.0, ctx.deadline - time.monotonic()),
        "payload": payload,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "jobrunner.worker.isolation"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=child_setup(ctx.memory_limit),  # dies with the daemon, under the limit
    )
    try:
        out, err = _exchange(
            child, json.dumps(request).encode(), request["timeout"], ctx.cancel_event
        )
    except Cancelled:
        _kill_group(child)
        raise Cancelled("killed the isolated handler: the job was cancelled") from None
    except subprocess.TimeoutExpired:
        _kill_group(child)
        raise TimeoutError(
            f"killed the isolated handler at its timeout of {request['timeout']:.1f}s"
        ) from None
    finally:
        if child.poll() is None:
            _kill_group(child)
        for pipe in (child.stdin, child.stdout, child.stderr):  # closed, not left to the GC
            if pipe is not None:
                pipe.close()
    if len(out) > MAX_ANSWER:
        raise PermanentError(f"the isolated handler's result is over {size.describe(MAX_ANSWER)}")
    return _answer(out, err, child.returncode, ctx.memory_limit)


def _exchange(
    child: subprocess.Popen[bytes], request: bytes, timeout: float, cancel: threading.Event
) -> tuple[bytes, bytes]:
    """Send the request; read the answer (up to just over MAX_ANSWER) and the tail of the
    handler's output, whatever it prints: memory stays bounded. TimeoutExpired at `timeout`,
    `Cancelled` within CANCEL_LOOK of `cancel` being set."""
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    with contextlib.suppress(BrokenPipeError):
        child.stdin.write(request)
    child.stdin.close()
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ, out)
        selector.register(child.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(child.args, timeout)
            if cancel.is_set():
                raise Cancelled()
            for key, _ in selector.select(min(left, CANCEL_LOOK)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer += chunk
                if buffer is err and len(err) > 2 * MAX_STDERR:
                    del err[:-MAX_STDERR]  # keep the tail
                elif buffer is out and len(out) > MAX_ANSWER:
                    del out[MAX_ANSWER + 1 :]  # enough to know it is too large
    try:
        child.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise subprocess.TimeoutExpired(child.args, timeout) from None
    return bytes(out), bytes(err)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _answer(out: bytes, err: bytes, code: int, memory_limit: int | None) -> Any:
    limit = "" if memory_limit is None else f"memory_limit of {size.format(memory_limit)}"
    try:
        answer = json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace")[-MAX_STDERR:]
        under = f" under its {limit} (maybe the cause)" if limit else ""
        message = f"isolated handler exited with status {code}{under} and no answer: {tail}"
        raise ChildFailed(message) from None
    if answer["ok"]:
        return answer["result"]
    error = f"{answer['type']}: {answer['message']}"
    if answer["kind"] == "permanent":
        raise PermanentError(error)
    if answer["kind"] == "retry_later":
        raise RetryLater(answer["retry_after"], error)
    message = answer["message"]
    if answer["type"] == "MemoryError" and limit:
        message = f"the handler ran out of memory: it hit its {limit}"
    raise ChildFailed(message, answer["type"], answer["traceback"])


def _child() -> None:
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # the handler's prints go to stderr, our answer to the real stdout
    request = json.load(sys.stdin)
    try:
        answer = {"ok": True, "result": _run_request(request)}
        json.dumps(answer)
    except BaseException as exc:  # report everything, even SystemExit from a handler
        kind = (
            "permanent"
            if isinstance(exc, PermanentError)
            else "retry_later"
            if isinstance(exc, RetryLater)
            else "error"
        )
        answer = {
            "ok": False,
            "kind": kind,
            "type": getattr(exc, "type_name", type(exc).__name__),
            "message": str(exc),
            "retry_after": getattr(exc, "delay", 0.0),
            "traceback": "".join(traceback.format_exception(exc, limit=-4)),
        }
    with os.fdopen(answer_fd, "w") as out:
        json.dump(answer, out, default=repr)


def _run_request(request: dict[str, Any]) -> Any:
    from jobrunner.registry import discover

    name = request["plugin"]
    cls = discover().plugins.get(name)
    if cls is None:
        raise ChildFailed(f"plugin '{name}' is not available in the child", SETUP_ERROR)
    try:
        plugin = cls(request["params"])
    except (ValueError, TypeError, OSError, ImportError) as exc:  # as attempt.Plugins.instance
        raise ChildFailed(f"plugin '{name}' refused its params: {exc}", SETUP_ERROR) from None
    ctx = JobContext(deadline=time.monotonic() + request["timeout"], **request["ctx"])
    return plugin.run(ctx, request["payload"])


if __name__ == "__main__":
    _child()
