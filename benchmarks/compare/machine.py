"""What the figures were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import timeit
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("jobrunner", "huey", "dramatiq", "celery", "kombu", "rq", "redis", "hiredis")


def describe() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_speed_us": python_speed(),
        "redis_server": redis_version(),
        "packages": {name: version(name) for name in PACKAGES},
        "load_average_at_start": list(os.getloadavg()),
    }


def python_speed() -> float:
    """Microseconds this host takes for `sum(range(1000))` at the start, the best of 5
    runs: the same kind of VM has taken 10.7, 14.5 and 20 µs on different days, and
    every system's figures move with it, so runs compare only beside this."""
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
    return fields.get("v", out.strip())


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
