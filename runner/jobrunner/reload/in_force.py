"""The configuration a daemon runs now, read by its workers per job and swapped by a reload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobrunner.config.model import Config
from jobrunner.storage.records import Published
from jobrunner.worker.lane import Lane


@dataclass
class InForce:
    """What is in force. A reload replaces the attributes whole, so a reader never sees
    half of one configuration and half of another in any one of them."""

    config: Config = field(default_factory=Config)
    view: Published | None = None  # its published form; None until the first good load
    lanes: Mapping[str, Lane] = field(default_factory=dict)
    texts: Mapping[str, bytes] = field(default_factory=dict)  # the file texts in force
    generation: int = 0
    commit: str | None = None  # of the Git checkout holding the jobs directory

    def lane(self, name: str) -> Lane | None:
        """The lane in force now (workers look it up per job, so a reload applies at once)."""
        return self.lanes.get(name)

    def origin(self) -> dict[str, Any]:
        """Provenance recorded with every run: the generation and Git commit in force."""
        return {"generation": self.generation, "commit": self.commit}
