"""rnn-oracle against its peers, in one run: detection, diagnosis cost, reference speed.

    python benchmarks/bench_peers.py [--repeats N] [--budget SECONDS]

Four tables (issue 17, item 6):

1. Detection grid, n_h ∈ {16, 64, 128} × T ∈ {16, 64, 256}: CS231n's layer
   (``tests/rnn_oracle/oracle/corpus/cs231n.py``, batch 3, n_x = 32) correct and with
   its ``dWh = dtanh.T @ prev_h`` slip, checked by ``rnn_oracle.check_gradients`` (layer
   mode, the check alone: its diagnosis is table 2), ``torch.autograd.gradcheck``
   (``fast_mode=True``) and ``jax.test_util.check_grads`` (reverse mode, order 1), all on
   the same NumPy code (``peer_checks.py``). Each cell: the time of one call after a
   warm-up call, and whether the tool flagged the layer. A failing fast gradcheck
   recomputes every full Jacobian for its message; a call over ``--budget`` seconds is
   stopped and shown as ``>budget``.
2. What diagnosis costs against the check alone, and its peak memory
   (``bench_diagnosis.py``).
3. The references at T = 64, B = 32, n_h = 256, n_x = n_y = 128, float64, against torch's
   ``nn.RNN`` + ``Linear`` + cross-entropy autograd and the GEMM floor measured on this
   machine (``bench_backends.py``).
4. Each reference's log-log slope of time against T, T = 16 … 1024 (``bench_backends.py``).
5. ``rnn-oracle verify`` and ``verify --all-architectures`` end to end, cold and warm
   (``bench_verify.py``).
6. The in-process import time of ``rnn_oracle`` and its main names (``bench_verify.py``).

Every number depends on the machine's load: the load average is printed with each table.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_backends
import bench_diagnosis
import bench_verify
import peer_checks
from peer_checks import HostFunction
from timing import rerun_with_threads

import rnn_oracle as ro
from backends import available_backends
from tests.rnn_oracle.oracle.corpus import cs231n

GRID_N_H = (16, 64, 128)
GRID_T = (16, 64, 256)
BATCH = 3
LAYERS = {"correct": None, "W_hh transposed": "dwh_transposed"}


class OverBudget(Exception):
    pass


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Stop the block after ``seconds`` of wall time (SIGALRM: the peers' slow paths are
    Python loops, which the signal interrupts)."""

    def stop(signum: int, frame: Any) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(run: Callable[[], bool], seconds: float) -> tuple[float | None, bool | None]:
    """``(time, flagged)`` of one call after a warm-up call; ``(None, None)`` past the
    budget. A warm-up over a second is timed itself (the second call would cost as much).
    The tools alternate between frameworks: first the idle gap of ``time_rows``."""
    time.sleep(bench_backends.SWITCH_GAP)
    try:
        with budget(seconds):
            start = time.perf_counter()
            flagged = run()
            first = time.perf_counter() - start
            if first > 1.0:
                return first, flagged
            start = time.perf_counter()
            flagged = run()
            return time.perf_counter() - start, flagged
    except OverBudget:
        return None, None


def host_layer(n_h: int, seq_len: int, bug: str | None) -> HostFunction:
    """CS231n's layer as the peers see it: ``h = f(x, h0, Wx, Wh, b)`` as ``(N, T, H)``,
    its backward the layer's own ``rnn_backward``."""
    layer = cs231n.make(bug)
    case = ro.make_case(bench_diagnosis.layer_spec(n_h), seq_len, BATCH, seed=0)
    p = case.params
    arrays = (np.transpose(case.inputs, (1, 0, 2)), case.h0, p["W_xh"].T, p["W_hh"].T, p["b_h"])

    def forward(*a: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        x, h, Wx, Wh, b = a
        hs = []
        for t in range(x.shape[1]):
            h, _ = cs231n.rnn_step_forward(x[:, t, :], h, Wx, Wh, b)
            hs.append(h)
        return np.stack(hs, axis=1), a

    def backward(res: tuple[np.ndarray, ...], g: np.ndarray) -> tuple[np.ndarray, ...]:
        x, h0, Wx, Wh, b = res
        grads = layer({"Wx": Wx, "Wh": Wh, "b": b}, x, h0, g)
        return grads["inputs"], grads["h0"], grads["Wx"], grads["Wh"], grads["b"]

    return HostFunction(forward, backward, tuple(np.ascontiguousarray(a) for a in arrays))


def tools(n_h: int, seq_len: int, bug: str | None) -> dict[str, Callable[[], bool]]:
    """Each tool's check of the layer, returning whether it flagged it."""
    out = {
        "check_gradients": lambda: not bench_diagnosis.check(n_h, seq_len, False, bug).passed,
    }
    installed = available_backends()
    if "torch" in installed:
        out["gradcheck fast"] = peer_checks.torch_gradcheck(host_layer(n_h, seq_len, bug),
                                                            fast=True)
    if "jax" in installed:
        out["check_grads rev"] = peer_checks.jax_check_grads(host_layer(n_h, seq_len, bug))
    return out


def print_grid(seconds: float) -> bool:
    """Table 1 and each tool's tally; return whether check_gradients was right on every
    layer (the peers' misses and false alarms are findings, not failures of this run)."""
    names = list(tools(GRID_N_H[0], GRID_T[0], None))
    print(f"1. detection grid (load average {_load()}): time of one call and the verdict "
          f"(ok: passed, FLAG: failed); budget {seconds:g} s a call")
    header = f"{'n_h':>4} {'T':>4}  {'layer':<16}" + "".join(f" {n:>18}" for n in names)
    print(header)
    print("-" * len(header))
    tally = {name: {"bug flagged": 0, "false alarm": 0, "over budget": 0} for name in names}
    for n_h in GRID_N_H:
        for seq_len in GRID_T:
            for label, bug in LAYERS.items():
                cells = []
                for name, run in tools(n_h, seq_len, bug).items():
                    took, flagged = timed(run, seconds)
                    if took is None:
                        tally[name]["over budget"] += 1
                        cells.append(f">{seconds:g} s    ?")
                        continue
                    if flagged:
                        tally[name]["bug flagged" if bug else "false alarm"] += 1
                    cells.append(f"{took:>7.3f} s {'FLAG' if flagged else 'ok':>4}")
                print(f"{n_h:>4} {seq_len:>4}  {label:<16}" + "".join(f" {c:>18}" for c in cells))
    cells = len(GRID_N_H) * len(GRID_T)
    for name, counts in tally.items():
        print(f"{name}: flagged the bug in {counts['bug flagged']}/{cells}, false alarms on "
              f"the correct layer {counts['false alarm']}/{cells}, over budget "
              f"{counts['over budget']}/{2 * cells}")
    own = tally["check_gradients"]
    return own["bug flagged"] == cells and own["false alarm"] == own["over budget"] == 0


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="best of N in tables 2 and 3 (table 4: N up to T=256, then 2)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds one call in table 1 may take")
    parser.add_argument("--threads", type=int, default=None,
                        help="size every thread pool (BLAS, OpenMP, XLA) to N; 1 is steady "
                             "on a loaded machine")
    args = parser.parse_args()
    rerun_with_threads(args.threads)
    began = time.perf_counter()
    print(bench_backends.versions())
    ok = print_grid(args.budget)

    print(f"\n2. diagnosis cost (load average {_load()})")
    ok &= bench_diagnosis.print_table(list(bench_diagnosis.SIZES), args.repeats)

    print(f"\n3. references against the peer and the GEMM floor (load average {_load()})")
    label = next(iter(bench_backends.WORKLOADS))
    case = bench_backends.make_workload(*bench_backends.WORKLOADS[label])
    ok &= bench_backends.print_reference_table(label, case, args.repeats)
    print(f"targets: every reference ≤ {bench_backends.PEER_RATIO_TARGET}× the peer, NumPy "
          f"BPTT ≤ {bench_backends.FLOOR_RATIO_TARGET}× the floor")

    print(f"\n4. T-slopes (load average {_load()})")
    ok &= bench_backends.print_sweep(bench_backends.SWEEP_LENGTHS, args.repeats)

    print(f"\n5. rnn-oracle verify, end to end (load average {_load()})")
    ok &= bench_verify.print_table(1)
    print(f"\n6. import (load average {_load()})")
    ok &= bench_verify.print_import(5)

    print(f"\nall targets {'met' if ok else 'NOT met'}; ran {time.perf_counter() - began:.0f} s, "
          f"load average at the end {_load()}")


if __name__ == "__main__":
    main()
