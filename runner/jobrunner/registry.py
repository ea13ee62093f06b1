"""Finding installed plugins through the `jobrunner.plugins` entry-point group."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points

from jobrunner.plugin import Plugin

GROUP = "jobrunner.plugins"


@dataclass(frozen=True, slots=True)
class Registry:
    plugins: dict[str, type[Plugin]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # name → why it failed to load


def discover() -> Registry:
    """Load every installed plugin; a broken one is reported, not fatal."""
    registry = Registry()
    for point in entry_points(group=GROUP):
        try:
            cls = point.load()
        except Exception as exc:  # a third-party plugin failing to import
            registry.broken[point.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            registry.broken[point.name] = f"{point.value} is not a jobrunner.Plugin subclass"
            continue
        registry.plugins[point.name] = cls
    return registry
