"""check_gradients against the peers, on one RNN loss with one injected bug.

The loss: a tanh RNN with n_x = n_h = n_y = 32, T = 16, softmax cross-entropy summed over
time, float64 — one NumPy forward pass and one NumPy backward pass with the classic slip
(the gradient from step t+1 is not added to ∂J/∂h_t). Every tool checks the *same* code:

* rnn-oracle: ``check_gradients`` on the NumPy function (one case; with and without the
  diagnosis);
* ``torch.autograd.gradcheck`` (``fast_mode=False`` and ``True``) on a
  ``torch.autograd.Function`` whose forward and backward call the NumPy code;
* ``jax.test_util.check_grads`` (reverse mode, order 1) on a ``jax.custom_vjp`` function
  whose forward and backward call the NumPy code through ``jax.pure_callback``.

Each tool must flag the bug; the table gives the median time to do so and its ratio to
rnn-oracle's. Run: ``python benchmarks/bench_oracle.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import peer_checks
from peer_checks import HostFunction

import rnn_oracle as ro

N, T = 32, 16
NAMES = ("W_hh", "W_xh", "b_h", "W_hy", "b_y")
CANONICAL = {n: n for n in NAMES}  # the user writes the canonical network
SPEC = ro.RNNSpec(n_x=N, n_h=N, n_y=N)


def loss_and_grads(
    params: dict[str, np.ndarray], inputs: Any, targets: Any, h0: Any, bug: bool = True
) -> Any:
    """The user's code: canonical names, rows of a (T, n_x) sequence; the bug is marked."""
    W_hh, W_xh, b_h, W_hy, b_y = (params[n] for n in NAMES)
    hs, h, ps = [], h0, []
    loss = 0.0
    for t in range(len(targets)):
        h = np.tanh(W_hh @ h + W_xh @ inputs[t] + b_h)
        o = W_hy @ h + b_y
        p = np.exp(o - o.max())
        p /= p.sum()
        loss -= float(np.log(p[targets[t]]))
        hs.append(h)
        ps.append(p)
    grads = {n: np.zeros_like(params[n]) for n in NAMES}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(len(targets))):
        dy = ps[t].copy()
        dy[targets[t]] -= 1
        grads["W_hy"] += np.outer(dy, hs[t])
        grads["b_y"] += dy
        dh = W_hy.T @ dy if bug else W_hy.T @ dy + dh_next  # the bug drops dh_next
        da = dh * (1 - hs[t] ** 2)
        grads["W_hh"] += np.outer(da, hs[t - 1] if t else h0)
        grads["W_xh"] += np.outer(da, inputs[t])
        grads["b_h"] += da
        dh_next = W_hh.T @ da
    return loss, grads


def correct(params: dict[str, np.ndarray], inputs: Any, targets: Any, h0: Any) -> Any:
    return loss_and_grads(params, inputs, targets, h0, bug=False)


def _case() -> ro.Case:
    return ro.make_case(SPEC, T, None, seed=0)


def _time(fn: Callable[[], bool], repeat: int) -> tuple[bool, float]:
    fn()  # warm-up: imports, JIT, caches
    times, detected = [], True
    for _ in range(repeat):
        start = time.perf_counter()
        detected = fn() and detected
        times.append(time.perf_counter() - start)
    return detected, statistics.median(times)


def oracle(diagnose: bool, user: Callable[..., Any] = loss_and_grads) -> Callable[[], bool]:
    def run() -> bool:
        report = ro.check_gradients(
            user, convention=CANONICAL, spec=SPEC, cases=1, seq_len=T, batch=None,
            diagnose_failures=diagnose,
        )
        if diagnose and not report.passed:
            assert set(report.causes.values()) == {"local_only"}, report.causes
        return not report.passed

    return run


def host_loss(user: Callable[..., Any]) -> HostFunction:
    """The user's loss as the peers see it: ``J(W_hh, …, b_y)``, its gradients the
    residuals that the backward scales by the incoming ``g``."""
    case = _case()

    def forward(*arrays: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        loss, grads = user(dict(zip(NAMES, arrays, strict=True)), case.inputs, case.targets,
                           case.h0)
        return np.asarray(loss), tuple(grads[n] for n in NAMES)

    def backward(grads: tuple[np.ndarray, ...], g: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(g * d for d in grads)

    return HostFunction(forward, backward, tuple(case.params[n] for n in NAMES))


def torch_gradcheck(fast: bool, user: Callable[..., Any] = loss_and_grads) -> Callable[[], bool]:
    return peer_checks.torch_gradcheck(host_loss(user), fast=fast)


def jax_check_grads(user: Callable[..., Any] = loss_and_grads) -> Callable[[], bool]:
    return peer_checks.jax_check_grads(host_loss(user))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    tools: list[tuple[str, Callable[..., Callable[[], bool]]]] = [
        ("rnn-oracle check_gradients", lambda user: oracle(True, user)),
        ("rnn-oracle, no diagnosis", lambda user: oracle(False, user)),
        ("torch gradcheck fast_mode=True", lambda user: torch_gradcheck(True, user)),
        ("torch gradcheck fast_mode=False", lambda user: torch_gradcheck(False, user)),
        ("jax check_grads (rev)", jax_check_grads),
    ]
    rows = []
    for name, build in tools:
        try:
            buggy, fine = build(loss_and_grads), build(correct)
        except ImportError as exc:
            rows.append((name, None, None, None, f"skipped ({exc.name} not installed)"))
            continue
        repeat = 1 if "fast_mode=False" in name else args.repeat
        detected, seconds = _time(buggy, repeat)
        false_alarm, seconds_ok = _time(fine, repeat)
        rows.append((name, detected and not false_alarm, seconds, seconds_ok, ""))
    base = rows[0][2]
    print(f"one injected bug (recurrent gradient dropped); n = {N}, T = {T}, float64; "
          "times are medians")
    print(f"{'tool':34s} {'flags bug, passes fix':>22s} {'bug':>10s} {'× oracle':>9s} "
          f"{'fixed':>10s}")
    for name, ok, seconds, seconds_ok, note in rows:
        if seconds is None:
            print(f"{name:34s} {note}")
            continue
        ratio = seconds / base if base else float("nan")
        print(f"{name:34s} {ok!s:>22s} {seconds * 1e3:8.1f}ms {ratio:8.1f}× "
              f"{seconds_ok * 1e3:8.1f}ms")
    return 0 if all(r[1] in (True, None) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
