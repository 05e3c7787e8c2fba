"""The tolerance policy: when is a user's gradient entry wrong?

References are float64. A result computed in ``dtype`` is held to compare.py's
:func:`~rnn_oracle.compare.tolerance` (``1e-10`` in float64, ``32 ε₃₂ √T`` in float32),
measured against the size of the terms each gradient sums
(:func:`~rnn_oracle.compare.term_scales`): that is what rounding in a correct
implementation scales with. An entry fails only where **both** its absolute error exceeds
``tol × term scale`` and its relative error ``|a − b| / max(|a| + |b|, 1e-8)`` (Theano's
``verify_grad``) exceeds ``tol``.

One floor on top, for float32 only: a term scale bounds the rounding of the *backward*
sums, but where the forward dynamics amplify perturbations (a saturated, chaotic tanh
network over tens of steps) the float32 forward pass itself drifts, and the gradients
with it, by more than that. The float32 hand BPTT of the same case shows how far a correct
float32 computation drifts on it, so the absolute bound is at least
:data:`FORWARD_FACTOR` times that drift. Well-conditioned cases drift by a few ``ε`` of the
term scale, below ``tol`` already, so the floor only acts where float32 cannot resolve more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.compare import term_scales, tolerance
from rnn_oracle.derivations.base import Reference
from rnn_oracle.model import activation_derivative, forward

#: Floor of the relative error's denominator (Theano's choice).
REL_FLOOR = 1e-8

#: Multiple of the float32 reference's own drift allowed to a float32 result. Two correct
#: float32 computations of an ill-conditioned case drift by similar amounts (measured on
#: 1 500 saturated cases, T ≤ 50: the ratio stayed below 1.2).
FORWARD_FACTOR = 8.0


@dataclass(frozen=True)
class Bounds:
    rtol: float  #: the relative bound, and the multiple of a term scale that is the absolute one
    atol: dict[str, float]  #: absolute bound per canonical name (parameters, h0, inputs)
    loss_atol: float | None  #: absolute bound on the loss (None in layer mode)


def bounds(case: Case, ref: Reference) -> Bounds:
    """Bounds for ``case`` (in its own dtype) against the float64 reference ``ref``."""
    tol = tolerance(case.dtype, case.seq_len)
    scales = term_scales(case)
    atol = {name: tol * scale for name, scale in scales.items()}
    loss_atol = None if case.spec.head == "none" else tol * loss_scale(case, ref)
    if case.dtype == "float32":
        from rnn_oracle.reference import reference

        ref32 = reference(case, "numpy", "bptt").numpy()
        for name in atol:
            drift = _max_abs(ref32.grads[name], ref.grads[name])
            atol[name] = max(atol[name], FORWARD_FACTOR * drift)
        if loss_atol is not None:
            loss_atol = max(loss_atol, FORWARD_FACTOR * _max_abs(ref32.loss, ref.loss))
    return Bounds(rtol=tol, atol=atol, loss_atol=loss_atol)


def _max_abs(a: object, b: object) -> float:
    diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(np.max(diff)) if diff.size else 0.0


def loss_scale(case: Case, ref: Reference) -> float:
    """First-order size of the rounding error of a correct loss, divided by ``ε``.

    Every node's rounding error (``ε`` times the sum of the absolute values of its terms)
    times the absolute derivative of ``J`` with respect to that node: the pre-activations
    ``a_t``, the states ``h_t``, the outputs ``o_t`` and the per-step loss terms.
    """
    case = case.astype("float64")
    spec, p = case.spec, case.params
    from backends import get_backend
    from rnn_oracle.derivations.base import to_backend

    on = to_backend(case, get_backend("numpy"))
    x = np.asarray(on.x)
    traj = forward(spec, p, x, case.h0, np, targets=on.targets, upstream=on.upstream)
    w = abs(traj.weight)
    h = np.asarray(traj.h)
    h_prev = np.concatenate([case.h0[None], h[:-1]], axis=0)
    dh = np.abs(np.asarray(ref.hidden_grads))
    dphi = np.abs(np.asarray(activation_derivative(spec.cell, traj.a, traj.h, np)))
    a_terms = np.abs(h_prev) @ np.abs(p["W_hh"]).T + np.abs(x) @ np.abs(p["W_xh"]).T
    total = float(np.sum(dh * dphi * (a_terms + np.abs(p["b_h"]))))
    total += float(np.sum(dh * np.abs(h)))
    o = np.asarray(traj.o)
    targets = np.asarray(on.targets)
    d_o = w * np.abs(np.asarray(traj.yhat) - targets)
    total += float(np.sum(d_o * (np.abs(h) @ np.abs(p["W_hy"]).T + np.abs(p["b_y"]))))
    if spec.head == "softmax_ce":
        shift = np.max(o, axis=-1, keepdims=True)
        lse = shift + np.log(np.sum(np.exp(o - shift), axis=-1, keepdims=True))
        total += w * float(np.sum(np.abs(lse)) + np.sum(np.abs(o) * targets) + np.sum(np.abs(o)))
    else:
        total += w * float(np.sum((o - targets) ** 2))
    return total


@dataclass(frozen=True)
class Judgement:
    """How far ``actual`` is from ``expected``, entry by entry."""

    passed: bool
    n_failed: int
    max_abs: float
    abs_index: tuple[int, ...]
    max_rel: float
    rel_index: tuple[int, ...]
    worst_index: tuple[int, ...]  #: the failing entry furthest past its bound (else abs_index)
    actual: float
    expected: float
    ratio: float  #: how far past the bound the worst entry is (≤ 1 passes)


def judge(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> Judgement:
    """Entrywise verdict: an entry fails only where both errors exceed their bounds."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return Judgement(True, 0, 0.0, (), 0.0, (), (), 0.0, 0.0, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.abs(a) + np.abs(b), REL_FLOOR)
    finite = np.isfinite(diff)
    diff = np.where(finite, diff, np.inf)
    rel = np.where(finite, rel, np.inf)
    fail = (diff > atol) & (rel > rtol)
    # How far past its bound each entry is: the smaller of its two ratios.
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.minimum(diff / max(atol, 1e-300), rel / max(rtol, 1e-300))
    abs_index = _argmax(diff)
    rel_index = _argmax(rel)
    worst = _argmax(ratio) if fail.any() else abs_index
    return Judgement(
        passed=not bool(fail.any()),
        n_failed=int(fail.sum()),
        max_abs=float(diff[abs_index]),
        abs_index=abs_index,
        max_rel=float(rel[rel_index]),
        rel_index=rel_index,
        worst_index=worst,
        actual=float(a[worst]),
        expected=float(b[worst]),
        ratio=float(ratio[worst]),
    )


def _argmax(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))
