"""One line per event: human on a terminal, JSON lines for journald and log shippers.

Events carry their facts as fields (`job`, `queue`, `attempt`, `duration`,
`outcome`, `trace`); a field is never a resolved secret, because handler params
are never logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

LOGGER = logging.getLogger("jobrunner")


def event(level: int, message: str, **fields: Any) -> None:
    """Log `message` with structured `fields`."""
    LOGGER.log(level, message, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={_human(v)}" for k, v in fields.items() if v not in (None, ""))
        text = f"{_iso(record.created)} {record.levelname:<7} {record.getMessage()}"
        text = f"{text}  {extra}" if extra else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(fmt: str = "auto", level: str = "info", always: Mapping[str, Any] | None = None) -> None:
    """Send jobrunner's (and Huey's) logs to stderr in the chosen format; `always`: fields
    every line carries (a worker process's `process` number)."""
    if fmt == "auto":
        fmt = "human" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    if always:
        handler.addFilter(_Always(always))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)  # the web server's start and stop


class _Always(logging.Filter):
    """Adds the same fields to every line."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        record.fields = {**getattr(record, "fields", {}), **self.fields}
        return True


def _iso(created: float) -> str:
    ms = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{ms:03d}Z"


def _human(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return json.dumps(text) if " " in text else text
