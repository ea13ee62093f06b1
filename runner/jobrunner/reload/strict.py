"""Strict mode: a daemon running as root runs no job file that another user could have written.

Whoever can write `jobs.d` can run commands as the daemon's user, like a
crontab. So, as sshd's StrictModes do for keys, a daemon running as root
refuses a jobs directory, or a file in it, that is writable by its group or
by others, or owned by a user other than root: a refused file is treated
like one that fails validation (its last good version stays, or it is left
out), and a refused directory stops the daemon at start and any reload
after. `--no-strict` (JOBRUNNER_STRICT=false) turns this off.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

HINT = "chmod go-w and chown root it, or run with --no-strict"


def applies(strict: bool) -> bool:
    return strict and hasattr(os, "geteuid") and os.geteuid() == 0


def why_not(path: Path) -> str | None:
    """Why strict mode refuses `path` (followed through symlinks), or None."""
    try:
        info = path.stat()
    except OSError:
        return None  # reading it will say what is wrong
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by its group or by others"
    if info.st_uid != os.geteuid():
        return f"{path} is owned by uid {info.st_uid}, not by the daemon's user"
    return None


def directory(jobs_dir: Path) -> str | None:
    """Why the jobs directory (or a folder in it) is refused, or None."""
    for folder in [jobs_dir, *(p for p in jobs_dir.rglob("*") if p.is_dir())]:
        reason = why_not(folder)
        if reason:
            return f"refused (strict mode): {reason}; {HINT}"
    return None


def screen(on_disk: Mapping[str, bytes | OSError]) -> dict[str, bytes | OSError]:
    """The files as read, each one strict mode refuses replaced by the reason."""
    screened: dict[str, bytes | OSError] = {}
    for name, text in on_disk.items():
        reason = why_not(Path(name)) if isinstance(text, bytes) else None
        screened[name] = (
            PermissionError(errno.EACCES, f"refused (strict mode): {reason}; {HINT}")
            if reason
            else text
        )
    return screened
