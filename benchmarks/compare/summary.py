"""Rounds into figures: median with min-max, and jobrunner's ratio to the best peer."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

JOBRUNNER = ("jobrunner", "jobrunner-sqlite")

# Per figure: is higher better? (the best peer is the max, else the min)
COMPARED = {"drain": True, "steady": True, "cmds_per_job": False}


def spread(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def numbers(rounds: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rounds if isinstance(r.get(key), int | float)]


def ratios(rounds: Sequence[Mapping[str, Mapping[str, Any]]], system: str) -> dict[str, Any]:
    """Per figure of COMPARED: `system` ÷ the best peer of the same round, over the rounds;
    with the peer that was best each round."""
    found: dict[str, Any] = {}
    for figure, higher in COMPARED.items():
        per_round, best_peers = [], []
        for systems in rounds:
            peers = {
                name: r[figure]
                for name, r in systems.items()
                if name not in JOBRUNNER and isinstance(r.get(figure), int | float)
            }
            mine = systems.get(system, {}).get(figure)
            if not peers or not isinstance(mine, int | float):
                continue
            best = (max if higher else min)(peers, key=peers.__getitem__)
            per_round.append(mine / peers[best])
            best_peers.append(best)
        if per_round:
            found[figure] = {**spread(per_round), "best_peers": best_peers}
    return found
