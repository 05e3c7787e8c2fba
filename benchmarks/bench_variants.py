"""Time and peak memory of every derivation variant on NumPy.

    python benchmarks/bench_variants.py [--sizes 16 64 256] [--seq-len 32] [--batch 1]

For each hidden size: best-of-3 wall time and the peak of NumPy's allocations during one
call (tracemalloc; NumPy reports its buffers to it). The kronecker variant applies its
Kronecker factors lazily: target peak at n_h = 256 below 2x that of bptt. rtrl carries
O(n_h^3) sensitivities; past its budget (RNN_ORACLE_RTRL_BUDGET_MB) it refuses.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best_of

import rnn_oracle as ro

VARIANTS = ("bptt", "jacobian_chain", "kronecker", "differential", "einsum", "rtrl")


def measure(case: ro.Case, method: str, repeats: int) -> tuple[float, float]:
    best = best_of(lambda: ro.reference(case, method=method), repeats)
    tracemalloc.start()
    ro.reference(case, method=method)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"T={args.seq_len}, batch={args.batch}, n_x=n_y=16, float64, numpy backend")
    header = f"{'variant':16} {'n_h':>5} {'time ms':>10} {'peak MiB':>9} {'time/bptt':>9} " \
             f"{'peak/bptt':>9}"
    print(header)
    print("-" * len(header))
    for n_h in args.sizes:
        spec = ro.RNNSpec(n_x=16, n_h=n_h, n_y=16)
        case = ro.make_case(spec, args.seq_len, args.batch or None, seed=0)
        base_time, base_peak = measure(case, "bptt", args.repeats)
        for method in VARIANTS:
            try:
                seconds, peak = measure(case, method, args.repeats)
            except ro.OracleError as err:
                print(f"{method:16} {n_h:>5} refused: {err}")
                continue
            print(f"{method:16} {n_h:>5} {seconds * 1e3:>10.2f} {peak:>9.2f} "
                  f"{seconds / base_time:>9.2f} {peak / base_peak:>9.2f}")


if __name__ == "__main__":
    main()
