"""Time the reference gradients against torch's own RNN and the machine's GEMM floor.

    python benchmarks/bench_backends.py [--repeats N] [--sweep] [--profile]

Workloads (issue 3), float64, tanh, softmax cross-entropy summed, dense inputs:

* A: T = 64, batch 32, n_x = n_y = 128, n_h = 256;
* B: T = 256, batch 1, n_x = n_h = n_y = 64.

Rows: ``reference(case, backend, "bptt")`` on NumPy, torch and JAX (hand BPTT; it also
returns hidden-state gradients, and per-step contributions and local partials on first
read) and ``reference(case, backend, "autodiff")`` on torch and JAX (reverse mode). JAX
runs compiled programs: the compile (first call minus the best) is in the note, not in
the time. Each time is the best of ``--repeats`` calls after one warm-up call.

Columns: ``÷ peer`` against the peer — ``torch.nn.RNN`` + ``nn.Linear`` + cross-entropy,
one autograd backward to every parameter, ``x`` and ``h0`` (the loss is checked equal to
the reference's) — and ``÷ floor`` against the GEMM floor: the matmul FLOPs of the
forward and backward passes (``bench_bptt.bptt_flops``) over the rate of one 2048² float64
matmul measured in the same run. Targets (issue 17): every reference ≤ 1.5× the peer,
NumPy BPTT ≤ 2.5× the floor. ``--sweep`` adds each one's log-log slope of time against T
from 16 to 1024 at workload A's other sizes (target ≤ 1.05).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_bptt import bptt_flops, gemm
from timing import best_of, rerun_with_threads

import rnn_oracle as ro
from backends import available_backends

WORKLOADS = {
    "A: T=64 B=32 n_x=n_y=128 n_h=256": (64, 32, 128, 256, 128),
    "B: T=256 B=1 n_x=n_h=n_y=64": (256, 1, 64, 64, 64),
}
#: (backend, method) of every reference timed.
REFERENCES = (
    ("numpy", "bptt"), ("torch", "bptt"), ("jax", "bptt"),
    ("torch", "autodiff"), ("jax", "autodiff"),
)
PEER = "peer: torch nn.RNN"
GEMM = "GEMM 2048^2"
#: Seconds of idle before each timed call (see :func:`time_rows`).
SWITCH_GAP = 0.2
SWEEP_LENGTHS = (16, 32, 64, 128, 256, 512, 1024)
PEER_RATIO_TARGET, FLOOR_RATIO_TARGET, SLOPE_TARGET = 1.5, 2.5, 1.05


def make_workload(seq_len: int, batch: int, n_x: int, n_h: int, n_y: int) -> ro.Case:
    spec = ro.RNNSpec(cell="tanh", n_x=n_x, n_h=n_h, n_y=n_y)
    return ro.make_case(spec, seq_len, batch, seed=0)


def reference_run(case: ro.Case, backend: str, method: str) -> Callable[[], Any]:
    def run() -> Any:
        ref = ro.reference(case, backend, method)
        if backend == "jax":
            # JAX dispatches asynchronously: wait for the numbers before stopping the clock.
            import jax

            jax.block_until_ready((ref.loss, dict(ref.grads)))
        return ref

    return run


def torch_peer(case: ro.Case) -> Callable[[], Any]:
    """``nn.RNN`` + ``nn.Linear`` + summed cross-entropy on the case's numbers: a forward
    pass and one ``autograd.grad`` to every parameter, the inputs and ``h0``."""
    import torch

    spec, p = case.spec, case.params
    rnn = torch.nn.RNN(spec.n_x, spec.n_h, nonlinearity="tanh", dtype=torch.float64)
    head = torch.nn.Linear(spec.n_h, spec.n_y, dtype=torch.float64)
    with torch.no_grad():
        for param, value in ((rnn.weight_ih_l0, p["W_xh"]), (rnn.weight_hh_l0, p["W_hh"]),
                             (rnn.bias_ih_l0, p["b_h"]), (head.weight, p["W_hy"]),
                             (head.bias, p["b_y"])):
            param.copy_(torch.tensor(value))
        rnn.bias_hh_l0.zero_()
    x = torch.tensor(case.inputs, requires_grad=True)
    h0 = torch.tensor(case.h0[None], requires_grad=True)
    labels = torch.tensor(case.targets).reshape(-1)
    leaves = [*rnn.parameters(), *head.parameters(), x, h0]

    def loss() -> Any:
        out, _ = rnn(x, h0)
        logits = head(out).reshape(-1, spec.n_y)
        return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")

    expected = float(ro.reference(case).loss)
    assert math.isclose(float(loss().detach()), expected, rel_tol=1e-10), "another J"

    def run() -> Any:
        return torch.autograd.grad(loss(), leaves)

    return run


def gemm_floor(case: ro.Case, rate: float) -> float:
    """Seconds the forward and backward matmuls of ``case`` take at ``rate`` FLOP/s."""
    spec = case.spec
    return bptt_flops(case.seq_len, case.batch or 1, spec.n_x, spec.n_h, spec.n_y) / rate


def runners(case: ro.Case) -> dict[str, Callable[[], Any]]:
    """The peer and every installed reference, by row name."""
    installed = available_backends()
    out = {PEER: torch_peer(case)} if "torch" in installed else {}
    for backend, method in REFERENCES:
        if backend in installed:
            out[f"{method} {backend}"] = reference_run(case, backend, method)
    return out


def time_rows(
    case: ro.Case, repeats: int, extra: dict[str, Callable[[], Any]] | None = None
) -> list[tuple[str, float, float]]:
    """``(name, best seconds, first call seconds)`` of the peer, every reference and the
    ``extra`` rows.

    Round-robin: each round times every row once, so a burst of load elsewhere on the
    machine slows all rows of a round rather than all rounds of one row. Before each call
    the script sleeps :data:`SWITCH_GAP`: OpenBLAS's and OpenMP's worker threads spin for
    a while after their last task, and a torch call right after a NumPy one (or the
    reverse) ran 2-4× slower on this 2-core machine, competing with them.
    """
    rows = {**runners(case), **(extra or {})}
    first = {name: _after_gap(run) for name, run in rows.items()}
    best = dict.fromkeys(rows, math.inf)
    for _ in range(repeats):
        for name, run in rows.items():
            best[name] = min(best[name], _after_gap(run))
    return [(name, best[name], first[name]) for name in rows]


def _after_gap(run: Callable[[], Any]) -> float:
    time.sleep(SWITCH_GAP)
    return best_of(run, 1, warm_up=False)


def print_reference_table(label: str, case: ro.Case, repeats: int) -> bool:
    """Print one workload's table; return whether the targets hold there. The GEMM rate
    is timed in the same rounds as the rows."""
    run_gemm, gemm_flops = gemm()
    rows = time_rows(case, repeats, {GEMM: run_gemm})
    rate = gemm_flops / next(seconds for name, seconds, _ in rows if name == GEMM)
    rows = [row for row in rows if row[0] != GEMM]
    times = {name: seconds for name, seconds, _ in rows}
    peer = times.get(PEER)
    floor = gemm_floor(case, rate)
    print(f"\n{label}: GEMM floor {floor * 1e3:.1f} ms "
          f"({floor * rate / 1e9:.2f} GFLOP at {rate / 1e9:.1f} GFLOP/s)")
    print(f"{'row':<20} {'time':>10} {'÷ peer':>7} {'÷ floor':>8}  note")
    met = True
    for name, seconds, first in rows:
        ratio = seconds / peer if peer else math.nan
        note = f"compile {first - seconds:.2f} s" if name.endswith("jax") else ""
        if name != PEER:
            met &= not ratio > PEER_RATIO_TARGET
        if name == "bptt numpy":
            met &= seconds / floor <= FLOOR_RATIO_TARGET
        print(f"{name:<20} {seconds * 1e3:>8.1f} ms {ratio:>7.2f} {seconds / floor:>8.2f}  {note}")
    return met


def slope(lengths: Sequence[int], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(T)."""
    xs, ys = [math.log(t) for t in lengths], [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def print_sweep(lengths: Sequence[int], repeats: int) -> bool:
    """Time every row at each T (workload A's other sizes); print the times and each
    row's log-log slope; return whether every reference's slope is within target."""
    _, batch, n_x, n_h, n_y = WORKLOADS["A: T=64 B=32 n_x=n_y=128 n_h=256"]
    times: dict[str, list[float]] = {}
    for seq_len in lengths:
        case = make_workload(seq_len, batch, n_x, n_h, n_y)
        # Long sequences: fewer repeats (a call takes a second or more).
        for name, seconds, _ in time_rows(case, repeats if seq_len <= 256 else 2):
            times.setdefault(name, []).append(seconds)
    print(f"\nT sweep, B={batch} n_x=n_y={n_x} n_h={n_h}: best times (ms) and the log-log "
          f"slope of time against T (target ≤ {SLOPE_TARGET})")
    print(f"{'row':<20} " + " ".join(f"{t:>8}" for t in lengths) + f" {'slope':>7}")
    met = True
    for name, row in times.items():
        fit = slope(lengths, row)
        if name != PEER:
            met &= fit <= SLOPE_TARGET
        print(f"{name:<20} " + " ".join(f"{s * 1e3:>8.1f}" for s in row) + f" {fit:>7.3f}")
    return met


def versions() -> str:
    import numpy as np

    out = [f"numpy {np.__version__}"]
    for name in ("torch", "jax"):
        if name in available_backends():
            out.append(f"{name} {__import__(name).__version__}")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    threads = os.environ.get("BENCH_THREADS", "default")
    return f"{', '.join(out)}; {os.cpu_count()} CPUs, threads {threads}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep", action="store_true", help="also the T sweep and slopes")
    parser.add_argument("--profile", action="store_true",
                        help="also print where NumPy BPTT and the peer spend time")
    parser.add_argument("--threads", type=int, default=None,
                        help="size every thread pool (BLAS, OpenMP, XLA) to N; 1 is steady "
                             "on a loaded machine")
    args = parser.parse_args()
    rerun_with_threads(args.threads)
    print(versions())
    met = True
    for k, (label, dims) in enumerate(WORKLOADS.items()):
        case = make_workload(*dims)
        held = print_reference_table(label, case, args.repeats)
        met &= held or k > 0  # the targets are set at workload A
        if args.profile:
            for name, run in runners(case).items():
                if name in ("bptt numpy", PEER):
                    print(f"\nprofile: {name}")
                    profiler = cProfile.Profile()
                    profiler.runcall(run)
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(8)
    if args.sweep:
        met &= print_sweep(SWEEP_LENGTHS, args.repeats)
    print(f"\ntargets {'met' if met else 'MISSED'} (load average now "
          f"{os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
