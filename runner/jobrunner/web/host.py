"""What the HTTP side needs of the process it runs in (the daemon provides it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from jobrunner.config.model import Access, Webhook
from jobrunner.storage import Storage


class Host(Protocol):
    id: str  # the daemon's id, as `jobrunner status` shows it
    storage: Storage

    def liveness(self) -> list[str]:
        """Why the process is not alive and well (its main loop stalled); empty when it is."""
        ...

    def readiness(self) -> list[str]:
        """Why it should not get traffic now (no configuration loaded yet, storage
        unreachable, stopping); empty when ready."""
        ...

    def access(self) -> Mapping[str, Access]:
        """The `access:` entries of the configuration in force (web/access.py)."""
        ...

    def webhooks(self) -> Mapping[str, Webhook]:
        """The `webhooks:` entries of the configuration in force (web/webhooks.py)."""
        ...
