"""Time the NumPy reference BPTT against the machine's own matrix-multiply rate.

    python benchmarks/bench_bptt.py [--repeats N]

Workload (issue 2): T = 64, batch 32, n_x = n_y = 128, n_h = 256, float64, tanh,
softmax cross-entropy. The practical lower bound is the work's matmul FLOP count divided
by the rate of one large float64 matmul measured in the same run; the ratio says how far
the reference is from that bound. Also prints the import time of ``rnn_oracle``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best_of

import rnn_oracle as ro

T, B, N_X, N_H, N_Y = 64, 32, 128, 256, 128


def gemm(n: int = 2048) -> tuple[Callable[[], Any], float]:
    """One large float64 matmul (the machine's practical peak) and its FLOPs."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    return (lambda: a @ b), 2.0 * n**3


def matmul_rate(repeats: int, n: int = 2048) -> float:
    """FLOP/s of one large float64 matmul, best of ``repeats``."""
    run, flops = gemm(n)
    return flops / best_of(run, repeats)


def bptt_flops(
    seq_len: int, batch: int, n_x: int, n_h: int, n_y: int, *, with_extras: bool = False
) -> float:
    """Matmul FLOPs of the hand BPTT (elementwise work is not counted).

    Gradients alone: forward (input projection, recurrence, output) and backward
    (output to hidden, recurrence, the five weight gradients, the input gradient) —
    3 n_h² + 3 n_x n_h + 3 n_h n_y multiply-adds per sample and step. Reading the
    per-step contributions and the local partials (computed on first access) adds the
    three weight products once each and W_hh, W_xh once more.
    """
    per = 3 * n_h * n_h + 3 * n_x * n_h + 3 * n_h * n_y
    if with_extras:
        per += 2 * n_h * n_h + 2 * n_x * n_h + n_h * n_y
    return 2.0 * seq_len * batch * per


def import_time(repeats: int = 5) -> float:
    """Seconds ``import rnn_oracle`` takes in a fresh interpreter (best of ``repeats``)."""
    code = (
        "import time; t = time.perf_counter(); import rnn_oracle; "
        "print(time.perf_counter() - t)"
    )
    root = str(Path(__file__).resolve().parent.parent)
    runs = [
        float(subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                             capture_output=True, text=True).stdout)
        for _ in range(repeats)
    ]
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    spec = ro.RNNSpec(cell="tanh", n_x=N_X, n_h=N_H, n_y=N_Y)
    case = ro.make_case(spec, seq_len=T, batch=B, seed=0)
    def with_extras() -> None:
        ref = ro.reference(case, method="bptt")
        dict(ref.per_step or {}), dict(ref.local or {})

    ro.reference(case)  # warm up
    seconds = best_of(lambda: ro.reference(case, method="bptt"), args.repeats)
    seconds_extras = best_of(with_extras, args.repeats)
    rate = matmul_rate(args.repeats)
    flops = bptt_flops(T, B, N_X, N_H, N_Y)
    flops_extras = bptt_flops(T, B, N_X, N_H, N_Y, with_extras=True)
    bound = flops / rate
    bound_extras = flops_extras / rate
    seconds_import = import_time()

    rows = [
        ("workload", f"T={T} B={B} n_x={N_X} n_h={N_H} n_y={N_Y} float64"),
        ("matmul rate (2048^2, best)", f"{rate / 1e9:.1f} GFLOP/s"),
        ("BPTT matmul FLOPs", f"{flops / 1e9:.2f} GFLOP (with per-step and local: "
                              f"{flops_extras / 1e9:.2f})"),
        ("lower bound (FLOPs / rate)", f"{bound * 1e3:.1f} ms"),
        (f"measured reference (best of {args.repeats})", f"{seconds * 1e3:.1f} ms"),
        ("measured / bound", f"{seconds / bound:.2f}x"),
        ("... reading per-step and local too", f"{seconds_extras * 1e3:.1f} ms, "
                                               f"{seconds_extras / bound_extras:.2f}x its bound"),
        ("import rnn_oracle (fresh interpreter)",
         f"{seconds_import * 1e3:.0f} ms (goal < 300 ms; numpy is most of it)"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
