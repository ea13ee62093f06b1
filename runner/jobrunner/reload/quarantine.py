"""Keeping a bad file from taking good jobs down with it. Pure.

When a file on disk fails validation, its last good version stays in force
while the other files' changes apply, provided the whole combination
validates; otherwise the whole change is refused and the configuration in
force stays as it is. A failing file that never had a good version is left
out. The problems always describe the files as they are on disk, because
that is what the operator has to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from jobrunner.config.load import Loaded, Options, assemble
from jobrunner.problem import Problem
from jobrunner.registry import Registry


@dataclass(frozen=True)
class Verdict:
    loaded: Loaded  # what to run (last good versions substituted)
    problems: list[Problem]  # of the files on disk
    texts: dict[str, bytes]  # the file contents in force: the next "last good" set
    quarantined: tuple[str, ...] = ()  # failing files whose last good version stays
    left_out: tuple[str, ...] = ()  # failing files with no good version
    refused: bool = False  # the combination does not validate: change nothing

    def summary(self) -> str:
        parts = []
        if self.quarantined:
            parts.append(f"kept the last good version of {', '.join(self.quarantined)}")
        if self.left_out:
            parts.append(f"left out {', '.join(self.left_out)} (no good version yet)")
        return "; ".join(parts)


def judge(
    on_disk: Mapping[str, bytes | OSError],
    last_good: Mapping[str, bytes],
    *,
    now: datetime,
    registry: Registry,
) -> Verdict:
    """Decide what to run given the files on disk and the last good version of each."""
    first = assemble(on_disk, Options(), now=now, registry=registry)
    good = {name: text for name, text in on_disk.items() if isinstance(text, bytes)}
    if not first.failed:
        return Verdict(first, first.problems, good)
    in_force = {name: text for name, text in good.items() if name not in first.failed}
    quarantined = tuple(sorted(name for name in first.failed if name in last_good))
    left_out = tuple(sorted(name for name in first.failed if name not in last_good))
    in_force.update({name: last_good[name] for name in quarantined})
    second = assemble(in_force, Options(), now=now, registry=registry)
    return Verdict(
        second, first.problems, in_force, quarantined, left_out, refused=bool(second.failed)
    )
