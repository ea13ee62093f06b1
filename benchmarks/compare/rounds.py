"""The whole comparison: rounds, each running every system once, then the summary.

Interleaving (round 1 runs every system, then round 2, …) spreads a noisy
minute of a shared machine over all systems instead of one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.compare import jobrunner_figures, machine, measure, summary
from benchmarks.compare.goals import GOALS
from benchmarks.compare.peers import PEERS

RUN_FIGURES = (
    *("drain", "steady", "steady_enqueue", "producer_alone"),
    *("cmds_per_job", "cmds_enqueue", "cmds_work"),
)
OWN = {"jobrunner": "redis", "jobrunner-sqlite": "sqlite"}  # storage of jobrunner's own runs


def run(
    systems: list[str],
    sizes: measure.Sizes,
    figure_sizes: jobrunner_figures.Sizes,
    rounds: int,
    workdir: Path,
) -> dict[str, Any]:
    found = machine.describe()
    per_round: list[dict[str, dict[str, Any]]] = []
    own: list[dict[str, Any]] = []
    own_load: list[list[float]] = []
    own_elapsed: list[float] = []
    for r in range(rounds):
        figures: dict[str, dict[str, Any]] = {}
        for name in systems:
            _say(f"round {r + 1}/{rounds}: {name}")
            figures[name] = measure.run(PEERS[name], sizes, workdir / f"round{r + 1}" / name)
        per_round.append(figures)
        if "jobrunner" in systems:
            _say(f"round {r + 1}/{rounds}: jobrunner-only figures")
            before, began = os.getloadavg()[0], time.monotonic()
            only = jobrunner_figures.run(figure_sizes, workdir / f"round{r + 1}" / "only")
            own_load.append([before, os.getloadavg()[0]])
            own_elapsed.append(time.monotonic() - began)
            for system, storage in OWN.items():
                for key in ("enqueue_p50", "enqueue_p99", "ping_p99", "bulk_enqueue"):
                    if key in figures.get(system, {}):
                        only[f"{key}_{storage}"] = figures[system][key]
            own.append(only)
    return {
        "machine": found,
        "load_average_at_end": list(os.getloadavg()),
        "systems": {name: _system(name, [f[name] for f in per_round]) for name in systems},
        "ratios": {name: summary.ratios(per_round, name) for name in OWN if name in systems},
        "jobrunner": _own(own, per_round),
        "jobrunner_load_average": own_load,  # before and after each round's own figures
        "jobrunner_elapsed": own_elapsed,  # seconds each round's own figures took
    }


def _system(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {"setup": PEERS[name].setup, "storage": PEERS[name].storage}
    for key in RUN_FIGURES:
        values = summary.numbers(rounds, key)
        if values:
            found[key] = summary.spread(values)
    found["commands_last_round"] = rounds[-1].get("commands", {})
    found["load_average"] = [r["load"] for r in rounds]
    found["elapsed"] = [r["elapsed"] for r in rounds]
    return found


def _own(own: list[dict[str, Any]], per_round: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Every goal's figure over the rounds; a text where a figure could not be measured."""
    rounds = [dict(o) for o in own]
    for r, systems in enumerate(per_round[: len(rounds)]):
        rounds[r]["cmds_per_job"] = systems.get("jobrunner", {}).get("cmds_per_job")
        for figure, ratio in summary.ratios([systems], "jobrunner").items():
            rounds[r][f"{figure}_ratio"] = ratio["median"]
        for figure in ("drain", "steady"):  # the goal names Dramatiq's default
            mine = systems.get("jobrunner", {}).get(figure)
            theirs = systems.get("dramatiq", {}).get(figure)
            if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs > 0:
                rounds[r][f"{figure}_vs_dramatiq"] = mine / theirs
    found: dict[str, Any] = {}
    for goal in GOALS:
        values = summary.numbers(rounds, goal.key)
        texts = [r[goal.key] for r in rounds if isinstance(r.get(goal.key), str)]
        if values:
            median = summary.spread(values)
            found[goal.key] = {**median, "unit": goal.unit, "goal": goal.text}
            found[goal.key]["met"] = goal.met(median["median"])
        elif texts:
            found[goal.key] = {"unavailable": texts[0], "unit": goal.unit, "goal": goal.text}
    return found


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
