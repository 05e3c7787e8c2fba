"""What the diagnosis of a failing gradient costs, against the check alone.

    python benchmarks/bench_diagnosis.py [--sizes 16,16 128,16 64,64 128,64 16,256 64,256 128,256]

For each (n_h, T): CS231n's tanh layer (row vectors, batch 3) from the mutation corpus,
with its ``dWh = dtanh.T @ prev_h`` slip (the gradient transposed), checked by
``check_gradients`` with ``diagnose_failures=False`` and with it on (every named
hypothesis, every truncation length among them). Best of 3 wall times, and the peak of
NumPy's allocations during the diagnosed check (tracemalloc). Targets (issue 17):
diagnosis at most 10x the check alone, peak under 500 MB, at every size.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best_of

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n  # the mutation corpus's CS231n layer

SIZES = ("16,16", "128,16", "64,64", "128,64", "16,256", "64,256", "128,256")


def check(
    n_h: int, seq_len: int, diagnose: bool, bug: str | None = "dwh_transposed"
) -> ro.GradientReport:
    """``check_gradients`` of the CS231n layer with ``bug`` (None: the correct layer)."""
    return ro.check_gradients(cs231n.make(bug), convention="cs231n", mode="layer",
                              spec=layer_spec(n_h), seq_len=seq_len, diagnose_failures=diagnose)


def layer_spec(n_h: int) -> ro.RNNSpec:
    return ro.RNNSpec(n_x=32, n_h=n_h, n_y=8)


def print_table(sizes: list[str], repeats: int) -> bool:
    """Print the table for ``sizes`` (``"n_h,T"`` each); return whether the targets hold."""
    header = (f"{'n_h':>5} {'T':>5} {'check s':>9} {'diagnosed s':>12} {'ratio':>7} "
              f"{'peak MB':>8} {'cause of Wh':>12}  targets: ratio ≤ 10, peak < 500")
    print(header)
    print("-" * len(header))
    worst_ratio, worst_peak = 0.0, 0.0
    for size in sizes:
        n_h, seq_len = (int(v) for v in size.split(","))
        plain = best_of(partial(check, n_h, seq_len, False), repeats)
        diagnosed = best_of(partial(check, n_h, seq_len, True), repeats)
        tracemalloc.start()
        report = check(n_h, seq_len, True)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        wh = next(g for g in report.gradients if g.name == "Wh")
        cause = wh.diagnosis.cause if wh.diagnosis is not None else "none"
        ratio = diagnosed / plain
        worst_ratio, worst_peak = max(worst_ratio, ratio), max(worst_peak, peak)
        print(f"{n_h:>5} {seq_len:>5} {plain:>9.3f} {diagnosed:>12.3f} {ratio:>7.2f} "
              f"{peak:>8.1f} {cause:>12}")
    met = worst_ratio <= 10 and worst_peak < 500
    print(f"worst ratio {worst_ratio:.2f}, worst peak {worst_peak:.1f} MB: "
          f"{'targets met' if met else 'TARGETS MISSED'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), metavar="N_H,T")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print_table(args.sizes, args.repeats)


if __name__ == "__main__":
    main()
