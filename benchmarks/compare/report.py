"""The results as compare.json (everything), compare.md (ready to paste) and compare.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.compare.goals import GOALS


def write(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md", out / "compare.png"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    chart(results, paths[2])
    return paths


def markdown(results: dict[str, Any]) -> str:
    m, options = results["machine"], results["options"]
    lines = [
        f"{m['date'][:10]}, {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}"
        + (f" (`sum(range(1000))` {m['python_speed_us']:.1f} µs)" if "python_speed_us" in m else "")
        + f", redis-server {m['redis_server']}; "
        + ", ".join(f"{name} {v}" for name, v in m["packages"].items())
        + f". N = {options['jobs']:,} no-op jobs, {options['rounds']} round(s), steady "
        f"{options['seconds']:g} s; load average {m['load_average_at_start'][0]:.2f} at the "
        f"start, {results['load_average_at_end'][0]:.2f} at the end. "
        "Median (min-max) over the rounds.",
        "",
        "| system | drain jobs/s | steady jobs/s | steady: producer stored/s "
        "| producer alone/s | Redis cmds/job (enqueue + work) | setup |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in results["systems"].items():
        cmds = "—"
        if "cmds_per_job" in s:
            cmds = (
                f"{_spread(s['cmds_per_job'], 1)}: "
                f"{s['cmds_enqueue']['median']:.1f} + {s['cmds_work']['median']:.1f}"
            )
        drain, steady = _ratioed(results, name, "drain"), _ratioed(results, name, "steady")
        stored, alone = (
            _spread(s[key], 0) if key in s else "—" for key in ("steady_enqueue", "producer_alone")
        )
        lines.append(
            f"| {name} | {drain} | {steady} | {stored} | {alone} | {cmds} | {s['setup']} |"
        )
    lines += ["", "| jobrunner figure | median (min-max) | goal | met |", "|---|---:|---|---|"]
    for goal in GOALS:
        figure = results["jobrunner"].get(goal.key)
        if figure is None:
            continue
        label = goal.label.format(entries=f"{options['entries']:,}")
        if "unavailable" in figure:
            lines.append(f"| {label} | {figure['unavailable']} | {goal.text} | — |")
            continue
        met = {True: "yes", False: "**no**", None: "—"}[figure["met"]]
        digits = (
            goal.digits if goal.digits is not None else 2 if goal.unit in ("ms", "%", "x") else 0
        )
        value = f"{_spread(figure, digits)} {goal.unit}"
        lines.append(f"| {label} | {value.strip()} | {goal.text} | {met} |")
    return "\n".join(lines) + "\n"


def _ratioed(results: dict[str, Any], name: str, figure: str) -> str:
    found = results["systems"][name].get(figure)
    if found is None:
        return "—"
    text = _spread(found, 0)
    ratio = results["ratios"].get(name, {}).get(figure)
    return f"{text}, **{ratio['median']:.1f}x** best peer" if ratio else text


def _spread(figure: dict[str, Any], digits: int) -> str:
    def f(v: float) -> str:
        return f"{v:,.{digits}f}"

    if len(figure["runs"]) == 1:
        return f(figure["median"])
    return f"{f(figure['median'])} ({f(figure['min'])}-{f(figure['max'])})"


def chart(results: dict[str, Any], path: Path) -> None:
    """Drain and steady jobs/s per system, bars at the median, error bars at min and max; a
    dash above each steady bar at what its producer stored alone (the most steady can be)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib import pyplot

    systems = list(results["systems"])
    figure, axes = pyplot.subplots(figsize=(max(6, 1.3 * len(systems)), 4.5), dpi=120)
    width = 0.38
    for i, (key, label) in enumerate((("drain", "drain"), ("steady", "steady"))):
        found = [results["systems"][s].get(key) for s in systems]
        medians = [f["median"] if f else 0 for f in found]
        low = [f["median"] - f["min"] if f else 0 for f in found]
        high = [f["max"] - f["median"] if f else 0 for f in found]
        positions = [x + (i - 0.5) * width for x in range(len(systems))]
        axes.bar(positions, medians, width, yerr=[low, high], capsize=3, label=label)
    alone = [results["systems"][s].get("producer_alone") for s in systems]
    axes.scatter(  # the bound of a steady run: its producer with no worker running
        [x + 0.5 * width for x, f in zip(range(len(systems)), alone, strict=True) if f],
        [f["median"] for f in alone if f],
        marker="_",
        s=400,
        color="black",
        label="steady's producer, alone",
        zorder=3,
    )
    axes.set_xticks(range(len(systems)), systems, rotation=20, ha="right")
    axes.set_ylabel("no-op jobs per second")
    m = results["machine"]
    axes.set_title(f"N = {results['options']['jobs']:,}, {m['cpus']} CPUs, {m['date'][:10]}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
