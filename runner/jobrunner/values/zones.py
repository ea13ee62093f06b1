"""IANA time zones: whether one exists, and the nearest name to one that does not."""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from jobrunner.values.suggest import did_you_mean

HINT = "use an IANA name such as Europe/Berlin or America/New_York"


def exists(name: str) -> bool:
    """True when `name` is a time zone of the system's (or tzdata's) database."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError, PermissionError):
        return False
    return True


def unknown(name: str) -> str:
    """The message for a time zone that does not exist, with a suggestion."""
    return f"unknown time zone '{name}'{did_you_mean(name, _names())}"


@cache
def _names() -> frozenset[str]:
    return frozenset(available_timezones())
