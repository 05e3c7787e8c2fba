"""Timing shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import os
import sys
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


#: The variables that size the thread pools of OpenBLAS (NumPy), MKL and OpenMP (torch).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def rerun_with_threads(threads: int | None) -> None:
    """With ``threads``, re-run this script (same arguments) with every framework's thread
    pools at that size — OpenBLAS, MKL and OpenMP through their variables, XLA through
    its flags — unless that is done already. The pools are sized when the frameworks load,
    so the process is replaced rather than reconfigured.

    Why: on a loaded machine a multi-threaded BLAS waits for cores it does not get, and
    times (and ratios) swing by several times; one thread per process is steady.
    """
    if threads is None or os.environ.get("BENCH_THREADS") == str(threads):
        return
    env = dict(os.environ, BENCH_THREADS=str(threads))
    env.update(dict.fromkeys(_THREAD_VARIABLES, str(threads)))
    xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla if threads == 1 else ''}".strip()
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
