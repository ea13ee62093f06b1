"""One way to summarise a latency sample: count, p50, p99 and max, printed in milliseconds."""

from __future__ import annotations

import statistics


def percentiles(seconds: list[float]) -> dict[str, float]:
    """n, p50, p99 and max of a sample, in milliseconds (p99: the nearest rank below)."""
    ms = sorted(v * 1000 for v in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return {"n": len(ms), "p50": statistics.median(ms), "p99": p99, "max": ms[-1]}


def report(name: str, seconds: list[float], width: int = 8) -> None:
    p = percentiles(seconds)
    print(
        f"{name:<{width}} n={p['n']:<4} p50={p['p50']:7.1f} ms  "
        f"p99={p['p99']:7.1f} ms  max={p['max']:7.1f} ms"
    )
