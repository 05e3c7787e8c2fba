"""Timing shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeats: int, *, warm_up: bool = True) -> float:
    """The shortest of ``repeats`` timed calls, after one untimed call that fills first-call
    caches (NumPy buffers, JAX's per-shape primitive compiles)."""
    if warm_up:
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
