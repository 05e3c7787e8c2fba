"""Time ``rnn-oracle verify`` end to end, as a user runs it, against the targets of issue 17.

    python benchmarks/bench_verify.py [--repeats N]

Rows (each a fresh process, so imports and every JAX compile are paid as a user pays them):

* ``rnn-oracle verify --cases 2`` on every installed backend (target: at most 5 s);
* ``rnn-oracle verify --all-architectures`` (target: at most 20 s).

Each command runs cold (an empty JAX compilation cache, as on a first run: the target is
for this) and warm (the cache filled, as ``rnn-oracle`` keeps it by default). Each time is
the best of ``--repeats`` runs (wall clock). Then the in-process import time of
``rnn_oracle`` and its main names (median of fresh processes; target 100 ms).
The exit status of every run is checked: a run that is not ``0`` (ALL AGREE) is
reported, since a fast wrong matrix is no result. Targets are for the 2-core machine;
other work on the machine inflates the times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS: tuple[tuple[str, list[str], float], ...] = (
    ("verify --cases 2", ["verify", "--cases", "2", "-q"], 5.0),
    ("verify --all-architectures", ["verify", "--all-architectures", "-q"], 20.0),
)
#: What ``import rnn_oracle`` and its main names cost in a fresh process (issue 17: 100 ms).
IMPORT_TARGET_MS = 100.0
#: ``import rnn_oracle`` alone loads no public name (PEP 562); the second row resolves the
#: names a check needs, which loads NumPy and the oracle.
IMPORTS: tuple[tuple[str, str], ...] = (
    ("import rnn_oracle", "import rnn_oracle as ro"),
    ("  + check_gradients, make_case, reference, RNNSpec, NetworkSpec",
     "import rnn_oracle as ro; "
     "ro.check_gradients, ro.make_case, ro.reference, ro.RNNSpec, ro.NetworkSpec"),
)


def timed(arguments: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and exit status of one ``python -m rnn_oracle ...`` process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rnn_oracle", *arguments],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=env)
    return time.perf_counter() - start, done.returncode


def print_table(repeats: int) -> bool:
    """Each command cold (an empty compilation cache: every JAX program compiled, as on a
    first run) and warm (the cache the cold run filled); best of ``repeats`` each. The
    target is for the cold run. Returns whether every target is met."""
    print(f"{'command':<30} {'cold':>7} {'warm':>7} {'target':>7}  met  exit")
    all_met = True
    with tempfile.TemporaryDirectory() as scratch:
        for k, (label, arguments, target) in enumerate(RUNS):
            env = {k2: v for k2, v in os.environ.items() if not k2.startswith("JAX_")}
            cold_times, codes = [], set()
            for r in range(max(1, repeats)):
                env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(scratch, f"{k}-{r}")
                seconds, code = timed(arguments, env)
                cold_times.append(seconds)
                codes.add(code)
            warm_times = []
            for _ in range(max(1, repeats)):
                seconds, code = timed(arguments, env)
                warm_times.append(seconds)
                codes.add(code)
            cold, warm = min(cold_times), min(warm_times)
            met = cold <= target and codes == {0}
            all_met &= met
            print(f"{label:<30} {cold:>6.1f}s {warm:>6.1f}s {target:>6.1f}s  "
                  f"{'yes' if met else 'NO ':<3}  {','.join(map(str, sorted(codes)))}")
    return all_met


def print_import(repeats: int) -> bool:
    """Median in-process import times (:data:`IMPORTS`), each in fresh processes; returns
    whether the fuller one is within the target."""
    medians = []
    for label, code in IMPORTS:
        timing = f"import time; t = time.perf_counter(); {code}; " \
                 "print((time.perf_counter() - t) * 1e3)"
        runs = [float(subprocess.run([sys.executable, "-c", timing], capture_output=True,
                                     text=True, check=True).stdout)
                for _ in range(max(3, repeats))]
        medians.append(statistics.median(runs))
        print(f"{label:<66} {medians[-1]:>6.1f} ms  (median of {len(runs)})")
    met = medians[-1] <= IMPORT_TARGET_MS
    print(f"target {IMPORT_TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per row (best is kept)")
    args = parser.parse_args()
    met = print_table(args.repeats)
    met &= print_import(5)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
