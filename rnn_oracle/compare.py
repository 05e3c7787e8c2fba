"""How two gradients are compared: normwise relative error and tolerances per dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_oracle.errors import OracleError

if TYPE_CHECKING:
    from rnn_oracle.case import Case

#: Normwise relative tolerance for exact methods (hand BPTT, autodiff) against complex
#: step, in float64: a few hundred ulps of headroom over what T ≤ 50 steps accumulate.
FLOAT64_RTOL = 1e-10

#: float32: multiples of ``ε₃₂ √T`` of the term scale (see :func:`tolerance`); six times the
#: worst error measured on correct results.
FLOAT32_ULPS = 32.0

#: Finite differences agree when every entry is within this many times its own error
#: estimate (the estimate is an order of magnitude, not a bound).
FD_ESTIMATE_FACTOR = 10.0


def tolerance(dtype: str, seq_len: int) -> float:
    """Normwise relative tolerance for an exact method computed in ``dtype``.

    float64: :data:`FLOAT64_RTOL`, relative to the array's largest entry.

    float32: ``32 ε₃₂ √T`` — rounding errors of a T-step recursion grow like a random
    walk — relative to the array's *term scale* ``S`` (:func:`term_scales`; pass it as
    ``discrepancy(..., scale=S)``), not to its largest entry. A float32 gradient is a sum
    of ``T·B`` terms, each a product with a factor ``phi'`` computed from ``h``
    (``1 − h²``) and, at the output, ``ŷ − y``: where the terms cancel, or where the cell or
    the softmax saturates (``1 − h²`` and ``ŷ − y`` lose digits), a correct float32 result
    misses the exact one by ``ε`` times the size of the terms, which can exceed ``ε`` times
    the result by orders of magnitude. Measured on about 2 000 random cases (T ≤ 50, weight
    scale up to 6, every cell and head, batched or not; NumPy, torch and JAX, reverse and
    forward mode): at most ``5.3 ε √T · S``, against up to ``25 000 ε`` of the largest
    entry. Not covered: float32 overflow (an exploding identity or relu network at large
    scale and T), where no tolerance helps; and saturated *chaotic* tanh networks (weight
    scale about 5, T about 20), whose forward pass amplifies float32 rounding itself —
    there even a correct float32 BPTT misses the bound (the oracle's policy adds a floor
    for that: ``rnn_oracle.oracle.policy``).
    """
    if dtype == "float64":
        return FLOAT64_RTOL
    if dtype == "float32":
        return FLOAT32_ULPS * float(np.finfo(np.float32).eps) * float(np.sqrt(seq_len))
    raise OracleError(f"tolerance: dtype must be 'float32' or 'float64', got {dtype!r}")


@dataclass(frozen=True)
class Discrepancy:
    """The worst disagreement between two arrays."""

    error: float  #: ``max |a − b| / max(max |a|, max |b|)`` (0 when both are zero)
    index: tuple[int, ...]  #: where ``|a − b|`` is largest
    value: float  #: ``a`` there
    expected: float  #: ``b`` there


def discrepancy(actual: Any, expected: Any, *, scale: float = 0.0) -> Discrepancy:
    """Normwise relative error of ``actual`` against ``expected`` (NumPy arrays).

    Normwise, not entrywise: an entry that is zero up to rounding in one computation and
    ``1e-17`` in another is agreement, not an infinite relative error. The error is
    divided by ``max(max |a|, max |b|, scale)``; ``scale`` lets a caller measure against
    the size of the terms the result was summed from (:func:`term_scales`).
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise OracleError(f"compare: shapes differ, got {a.shape} against expected {b.shape}")
    if a.size == 0:
        return Discrepancy(0.0, (), 0.0, 0.0)
    diff = np.abs(a - b)
    if not np.all(np.isfinite(diff)):
        bad = np.unravel_index(int(np.argmax(~np.isfinite(diff))), a.shape)
        index = tuple(int(i) for i in bad)
        return Discrepancy(float("inf"), index, float(a[index]), float(b[index]))
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), a.shape))
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), float(scale))
    error = 0.0 if scale == 0.0 else float(diff[index]) / scale
    return Discrepancy(error, index, float(a[index]), float(b[index]))


def term_scales(case: Case, *, carried: bool = True) -> dict[str, float]:
    """For each differentiable array of ``case``, the size of the terms its gradient sums.

    ``carried=False`` gives the *local* scale instead: the backward recursion carries the
    true ``|δ_{t+1}| = |φ'(a_{t+1}) ∘ ∂J/∂h_{t+1}|`` rather than its absolute-value
    bound ``A_{t+1}``, so the scale measures the terms one step sums, given exact inputs
    to that step. It does not compound: the carried bound grows like ``‖|W_hh|‖^T`` even
    where the true Jacobian products shrink (the oracle's policy measures how rounding
    travels in time instead: :mod:`rnn_oracle.oracle.policy`).

    A first-order bound, up to a factor of a few ``ε``, on what rounding can do to a
    correct computation of each gradient entry, divided by ``ε``. Computed in float64
    from the hand-BPTT quantities, every product in absolute value:

    * the output terms ``m_t = |w| (|ŷ_t| + |y_t|)`` (softmax_ce), ``|w| (|o_t| + |y_t|)``
      (linear_mse) or ``|w| |g_t|`` (head none) — ``ŷ − y`` cancels when the softmax
      saturates, so its parts, not the difference, set the size of its rounding error;
    * backwards, ``M_t = m_t |W_hy| + A_{t+1} |W_hh|`` with ``A_t = |phi'(a_t)| M_t +
      |∂J/∂h_t|``: ``phi'`` damps what flows back, as in the exact recursion, but the
      rounding error of ``phi'`` itself (absolute, since ``1 − h²`` loses digits when the
      cell saturates) enters as ``|∂J/∂h_t|`` times 1;
    * ``W_hh, W_xh, b_h``: the largest entry of ``Σ_{t,b} A_t |h_{t−1}|ᵀ``,
      ``Σ A_t |x_t|ᵀ``, ``Σ A_t``; ``W_hy, b_y``: ``Σ m_t |h_t|ᵀ``, ``Σ m_t``;
      ``h0``, ``inputs``: ``A_1 |W_hh|``, ``A_t |W_xh|``.

    Each is at least the largest entry of the gradient itself.
    """
    from backends import get_backend
    from rnn_oracle._reference import reference
    from rnn_oracle.derivations.base import to_backend
    from rnn_oracle.model import activation_derivative, forward

    case64 = case.astype("float64")
    numpy = get_backend("numpy")
    ref = reference(case64, "numpy", "bptt").numpy()
    on = to_backend(case64, numpy)
    spec = case.spec
    params = {n: np.abs(case64.params[n]) for n in spec.param_names}
    x = np.asarray(on.x)
    traj = forward(
        spec, dict(case64.params), x, case64.h0, numpy.xp, targets=on.targets, upstream=on.upstream
    )
    weight = abs(traj.weight)
    if spec.head == "none":
        m_out = weight * np.abs(np.asarray(on.upstream))
        out_h = m_out
    else:
        m_out = weight * (np.abs(np.asarray(traj.yhat)) + np.abs(np.asarray(on.targets)))
        out_h = m_out @ params["W_hy"]
    dphi = np.abs(np.asarray(activation_derivative(spec.cell, traj.a, traj.h, numpy.xp)))
    dh = np.abs(np.asarray(ref.hidden_grads))
    a_rev = []
    a_next = np.zeros_like(case64.h0)
    for t in range(case.seq_len - 1, -1, -1):
        m_t = out_h[t] + a_next @ params["W_hh"]
        a_next = dphi[t] * m_t + dh[t]
        a_rev.append(a_next)
        if not carried:
            a_next = dphi[t] * dh[t]  # the true |δ_t| goes on to step t − 1
    big_a = np.stack(a_rev[::-1], axis=0)
    h_prev = np.abs(np.concatenate([case64.h0[None, ...], np.asarray(traj.h)[:-1]], axis=0))
    scales = {
        "W_hh": _abs_outer(big_a, h_prev),
        "W_xh": _abs_outer(big_a, np.abs(x)),
        "b_h": np.sum(big_a.reshape(-1, spec.n_h), axis=0),
        "h0": big_a[0] @ params["W_hh"],
    }
    if spec.has_output_layer:
        scales["W_hy"] = _abs_outer(m_out, np.abs(np.asarray(traj.h)))
        scales["b_y"] = np.sum(m_out.reshape(-1, spec.n_y), axis=0)
    if "inputs" in case64.input_names:
        scales["inputs"] = big_a @ params["W_xh"]
    return {name: float(np.max(scales[name])) for name in case.input_names}


def _abs_outer(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``Σ_{t,b} left[t, b]ᵀ right[t, b]`` for non-negative stacks ``(T, [B,] m), (T, [B,] n)``."""
    return left.reshape(-1, left.shape[-1]).T @ right.reshape(-1, right.shape[-1])
