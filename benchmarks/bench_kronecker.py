"""Lazy Kronecker application versus the dense product and a direct matmul.

Run: ``python benchmarks/bench_kronecker.py [n]`` (default n = 512).

Applies ``(Bᵀ ⊗ A) vec(X)`` with A, B, X of shape n × n (float64) through
``conventions.Kron``, which computes ``vec(A X B)`` and never forms the n² × n² product,
and compares it with the peer ``vec(A @ X @ B)`` written by hand. The dense product is
only sized (512⁴ · 8 B ≈ 550 GB); at a small n it is also formed and timed for scale.
Peak memory is the tracemalloc peak of NumPy allocations during one call, plus the
growth of the process's maximum resident set (ru_maxrss) over the whole measurement.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    from conventions import ConventionError, Kron, vec
except ModuleNotFoundError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conventions import ConventionError, Kron, vec

TARGET_PEAK_BYTES = 200e6


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def measure(fn: Callable[[], object], repeats: int = 5) -> tuple[float, int, int]:
    """(best time in s, tracemalloc peak in bytes, ru_maxrss growth in bytes)."""
    rss0 = _maxrss_bytes()
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak, _maxrss_bytes() - rss0


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def main(n: int = 512) -> int:
    rng = np.random.default_rng(0)
    A, B, X = (rng.standard_normal((n, n)) for _ in range(3))
    v = vec(X)
    op = Kron(B.T, A)
    lazy = op @ v
    peer = vec(A @ X @ B)
    err = float(np.max(np.abs(lazy - peer)) / np.max(np.abs(peer)))

    rows: list[tuple[str, str, str, str]] = []
    t, peak, drss = measure(lambda: op @ v)
    lazy_peak = peak
    rows.append(
        (f"lazy Kron(Bᵀ, A) @ vec X (n={n})", f"{t * 1e3:.2f} ms", fmt_bytes(peak), fmt_bytes(drss))
    )
    t, peak, drss = measure(lambda: vec(A @ X @ B))
    rows.append(
        (f"peer vec(A @ X @ B) (n={n})", f"{t * 1e3:.2f} ms", fmt_bytes(peak), fmt_bytes(drss))
    )
    dense_bytes = float(n) ** 4 * 8
    rows.append((f"dense Bᵀ ⊗ A (n={n}), not formed", "—", fmt_bytes(dense_bytes), "—"))

    small = 32
    a, b, x = (rng.standard_normal((small, small)) for _ in range(3))
    small_op, small_v = Kron(b.T, a), vec(x)
    t, peak, drss = measure(lambda: small_op @ small_v)
    rows.append(
        (
            f"lazy Kron(Bᵀ, A) @ vec X (n={small})",
            f"{t * 1e3:.3f} ms",
            fmt_bytes(peak),
            fmt_bytes(drss),
        )
    )
    t, peak, drss = measure(lambda: np.kron(b.T, a) @ small_v)
    rows.append(
        (
            f"dense np.kron(Bᵀ, A) @ vec X (n={small})",
            f"{t * 1e3:.3f} ms",
            fmt_bytes(peak),
            fmt_bytes(drss),
        )
    )

    header = ("computation", "best time", "peak (tracemalloc)", "Δ ru_maxrss")
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(4)]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    print()
    print(f"max relative difference lazy vs peer: {err:.2e}")
    try:
        op.materialize()
    except ConventionError as exc:
        print(f"materialize() refused: {exc}")
    ok = lazy_peak < TARGET_PEAK_BYTES and err < 1e-12
    print(f"lazy peak {fmt_bytes(lazy_peak)} < target {fmt_bytes(TARGET_PEAK_BYTES)}: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 512))
