"""One way to print a latency sample: count, p50, p99 and max in milliseconds."""

from __future__ import annotations

import statistics


def report(name: str, seconds: list[float], width: int = 8) -> None:
    ms = sorted(v * 1000 for v in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:<{width}} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  "
        f"p99={p99:7.1f} ms  max={ms[-1]:7.1f} ms"
    )
