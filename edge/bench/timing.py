"""Latency statistics over repeated runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from edge.errors import ConfigError


def summarize(samples_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99 and mean of per-run milliseconds (zeros when there are none)."""
    a = np.asarray(samples_ms, np.float64)
    if a.size == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Run ``fn`` ``warmup`` times, then time ``repeats`` (at least 1) calls with a
    monotonic clock."""
    if repeats < 1:
        raise ConfigError(f"--repeats takes at least 1 timed run, got {repeats}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return summarize([t * 1e3 for t in samples])
