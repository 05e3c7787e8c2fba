"""Time ``rnn-oracle verify`` end to end, as a user runs it, against the targets of issue 17.

    python benchmarks/bench_verify.py [--repeats N]

Rows (each a fresh process, so imports and every JAX compile are paid as a user pays them):

* ``rnn-oracle verify --cases 2`` on every installed backend (target: at most 5 s);
* ``rnn-oracle verify --all-architectures`` (target: at most 20 s).

Each time is the best of ``--repeats`` runs (wall clock). The exit status of every run is
checked: a run that is not ``0`` (ALL AGREE) is reported, since a fast wrong matrix is no
result. Targets are for the 2-core machine; other work on the machine inflates the times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

RUNS: tuple[tuple[str, list[str], float], ...] = (
    ("verify --cases 2", ["verify", "--cases", "2", "-q"], 5.0),
    ("verify --all-architectures", ["verify", "--all-architectures", "-q"], 20.0),
)


def timed(arguments: list[str]) -> tuple[float, int]:
    """Wall time and exit status of one ``python -m rnn_oracle ...`` process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rnn_oracle", *arguments],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - start, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per row (best is kept)")
    args = parser.parse_args()
    print(f"{'command':<30} {'time':>8} {'target':>8}  met  exit")
    all_met = True
    for label, arguments, target in RUNS:
        results = [timed(arguments) for _ in range(max(1, args.repeats))]
        best = min(t for t, _ in results)
        codes = sorted({code for _, code in results})
        met = best <= target and codes == [0]
        all_met &= met
        print(f"{label:<30} {best:>7.1f}s {target:>7.1f}s  {'yes' if met else 'NO ':<3}  "
              f"{','.join(map(str, codes))}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
