"""Handlers that want too much: memory past a limit, results past the size cap."""

from __future__ import annotations

from typing import Any


def allocate(payload: dict[str, Any]) -> Any:
    """Take `mb` megabytes of memory at once, as a handler gone wrong would."""
    block = bytearray(payload["mb"] * 1024 * 1024)
    return {"allocated_mb": len(block) // (1024 * 1024)}


def answer(payload: dict[str, Any]) -> Any:
    """Return a string of `bytes` characters: `bytes` + 2 bytes of JSON."""
    return "x" * payload["bytes"]
