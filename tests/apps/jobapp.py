"""Handlers for integration tests: each call appends one JSON line to the payload's `out` file."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from jobrunner import JobContext, PermanentError


def _note(payload: dict[str, Any], ctx: JobContext, **extra: Any) -> None:
    line = {
        "job": ctx.job_id,
        "attempt": ctx.attempt,
        "t": time.time(),
        "pid": os.getpid(),
        "n": payload.get("n"),
        **extra,
    }
    with open(payload["out"], "a") as out:
        out.write(json.dumps(line) + "\n")


def record(payload: dict[str, Any], ctx: JobContext) -> Any:
    _note(payload, ctx, phase="start")
    time.sleep(payload.get("sleep", 0))
    _note(payload, ctx, phase="end")
    return payload.get("n")


def spin(payload: dict[str, Any], ctx: JobContext) -> Any:
    """Keep a core busy for `seconds` (a CPU-bound job), then record like `record`."""
    end = time.process_time() + payload.get("seconds", 0.1)
    while time.process_time() < end:
        pass
    _note(payload, ctx, phase="end")


def flaky(payload: dict[str, Any], ctx: JobContext) -> Any:
    _note(payload, ctx)
    if ctx.attempt < payload.get("succeed_on", 10**9):
        raise RuntimeError(f"failure number {ctx.attempt}")
    return "finally"


def permanent(payload: dict[str, Any], ctx: JobContext) -> Any:
    _note(payload, ctx)
    raise PermanentError("this payload can never work")


def hang(payload: dict[str, Any], ctx: JobContext) -> Any:
    _note(payload, ctx)
    time.sleep(3600)


def shout(payload: dict[str, Any], ctx: JobContext) -> Any:
    """Print `mb` megabytes, as a handler gone wrong would, then succeed."""
    _note(payload, ctx)
    line = ("x" * 1023 + "\n").encode()
    for _ in range(int(payload["mb"]) * 1024):
        sys.stdout.buffer.write(line)
    sys.stdout.flush()
    return {"printed_mb": payload["mb"]}


def echo(payload: Any) -> Any:
    """Succeed at once with the payload."""
    return payload


def cooperative(payload: dict[str, Any], ctx: JobContext) -> Any:
    """Works until the job is cancelled, looking at `ctx.cancelled` between steps."""
    _note(payload, ctx, phase="start")
    while not ctx.cancelled:
        ctx.cancel_event.wait(0.05)
    _note(payload, ctx, phase="cancelled")
    return "stopped"
