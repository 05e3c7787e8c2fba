"""Time the reference gradient on every backend and method, against torch autograd.

    python benchmarks/bench_backends.py [--repeats N] [--profile]

Workloads (issue 3), float64, tanh, softmax cross-entropy, dense inputs:

* A: T = 64, batch 32, n_x = n_y = 128, n_h = 256;
* B: T = 256, batch 1, n_x = n_h = n_y = 64.

Rows: ``reference(case, backend, "bptt")`` on NumPy, torch and JAX (hand BPTT, which also
returns per-step contributions, hidden-state gradients and local partials);
``reference(case, backend, "autodiff")`` on torch and JAX (reverse mode, gradients only);
and JAX reverse mode under ``jax.jit`` (``value_and_grad`` of the same loss function,
compiled once; its compile time is reported separately and not in the time). Each time is
the best of ``--repeats`` runs, after one warm-up run. Targets: NumPy hand BPTT ≤ 1.5×
torch autograd; JAX jitted reverse ≤ 1.0× torch autograd.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best_of

import rnn_oracle as ro
from backends import available_backends, get_backend
from rnn_oracle.derivations.base import to_backend
from rnn_oracle.model import loss_function

WORKLOADS = {
    "A: T=64 B=32 n_x=n_y=128 n_h=256": (64, 32, 128, 256, 128),
    "B: T=256 B=1 n_x=n_h=n_y=64": (256, 1, 64, 64, 64),
}


def jax_jitted(case: ro.Case) -> tuple[Callable[[], Any], float]:
    """A jitted ``value_and_grad`` of the loss, and its compile time (first call − later)."""
    import jax

    be = get_backend("jax")
    with be.precision("float64"):
        on = to_backend(case, be)
        loss = loss_function(
            case.spec, be.xp, inputs=on.index_inputs, targets=on.targets, upstream=on.upstream
        )
        compiled = jax.jit(jax.value_and_grad(loss))
        arrays = on.arrays
        start = time.perf_counter()
        jax.block_until_ready(compiled(arrays))
        first = time.perf_counter() - start

    def run() -> Any:
        with be.precision("float64"):
            return jax.block_until_ready(compiled(arrays))

    start = time.perf_counter()
    run()
    return run, first - (time.perf_counter() - start)


def rows_for(case: ro.Case, repeats: int) -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    installed = available_backends()
    for backend, method in (
        ("numpy", "bptt"),
        ("torch", "bptt"),
        ("jax", "bptt"),
        ("torch", "autodiff"),
        ("jax", "autodiff"),
    ):
        if backend not in installed:
            continue
        seconds = best_of(lambda b=backend, m=method: _sync(ro.reference(case, b, m)), repeats)
        rows.append((f"{method} {backend}", seconds, ""))
    if "jax" in installed:
        run, compile_s = jax_jitted(case)
        rows.append(("autodiff jax jit", best_of(run, repeats), f"compile {compile_s:.2f} s"))
    return rows


def _sync(ref: ro.Reference) -> ro.Reference:
    # JAX dispatches asynchronously: wait for the numbers before stopping the clock.
    if ref.backend == "jax":
        import jax

        jax.block_until_ready(dict(ref.grads))
    return ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="also print where NumPy BPTT and torch autograd spend time")
    args = parser.parse_args()
    import numpy as np

    print(f"numpy {np.__version__}", end="")
    for name in ("torch", "jax"):
        if name in available_backends():
            module = __import__(name)
            print(f", {name} {module.__version__}", end="")
    print()
    for label, (t, b, n_x, n_h, n_y) in WORKLOADS.items():
        spec = ro.RNNSpec(cell="tanh", n_x=n_x, n_h=n_h, n_y=n_y)
        case = ro.make_case(spec, t, b, seed=0)
        rows = rows_for(case, args.repeats)
        torch_time = dict((r[0], r[1]) for r in rows).get("autodiff torch")
        print(f"\n{label}")
        print(f"{'method backend':<20} {'time':>10} {'÷ torch autograd':>17}  note")
        for name, seconds, note in rows:
            ratio = f"{seconds / torch_time:.2f}" if torch_time else "-"
            print(f"{name:<20} {seconds * 1e3:>8.1f} ms {ratio:>17}  {note}")
        if args.profile:
            for backend, method in (("numpy", "bptt"), ("torch", "autodiff")):
                if backend in available_backends():
                    print(f"\nprofile: {method} on {backend}")
                    profiler = cProfile.Profile()
                    profiler.runcall(ro.reference, case, backend, method)
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
