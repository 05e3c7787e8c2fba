"""The tolerance policy: when is a user's gradient entry wrong, and when can a case tell?

One error analysis serves every architecture and cell. References are float64 hand BPTT.
A result computed in ``dtype`` fails at an entry only where **both** its absolute error
exceeds ``atol`` and its relative error ``|a − b| / max(|a| + |b|, 1e-8)`` (Theano's
``verify_grad``) exceeds ``rtol = tolerance(dtype, T)`` (``1e-10`` in float64,
``32 ε₃₂ √T`` in float32). The absolute bound of an array is

    atol = max(tol_S · S, F · D)

with ``tol_S`` :func:`local_tolerance` (``1e-10`` in float64, ``32 ε₃₂`` in float32) for
the single-layer term scale, and ``rtol`` for networks, whose ``S`` is the largest entry
(a result's size, which does not grow with the terms summed).

* ``S``, the **local term scale**: the size of the terms one step's computation sums
  (:func:`~rnn_oracle.compare.term_scales` with ``carried=False`` for the vanilla cells:
  ``|φ'| (|W_hy|ᵀ m_t + |W_hh|ᵀ |δ_{t+1}|)`` with the *true* ``δ_{t+1}``, summed against
  ``|h_{t−1}|``, ``|x_t|``; the largest reference entry for gated cells and networks). It
  bounds the rounding of the sums one step makes, not how those errors travel in time.
* ``D``, the **measured drift**: how far the same float64-exact hand BPTT, run in
  ``dtype`` on the case and on :data:`DRIFT_SAMPLES` copies whose every float array and
  every nonlinearity output is perturbed by one rounding (``v (1 ± ε)``, random signs),
  lands from the float64 reference (:func:`measured_drift`). Rounding errors are
  perturbations of that size; how
  they travel through time (damped where the Jacobian products shrink, amplified where
  the dynamics are chaotic or the gradient explodes, cancelling where terms cancel) is
  what the reruns measure, on this case, instead of a worst case compounded over time —
  ``|W_hh|ᵀ`` multiplied ``T`` times grows like ``‖|W_hh|‖^T`` while the true products
  shrink, and made every bound vacuous from ``T ≈ 50`` on. ``F =`` :data:`DRIFT_FACTOR`.

Assumptions, written down: another correct implementation's rounding acts like an
``ε``-relative perturbation of its inputs, of each nonlinearity's output and of each
step's products (backward stability
of sums and matrix products, per step); its errors travel through the same Jacobians ours
do; and the spread of a few random perturbations is within a factor ``F`` of the spread of
another implementation's. The reliability campaign (``nox -s campaign``) measures the
false-alarm rate this gives.

A bound is only worth a verdict if it could fail: :func:`discriminates` decides whether
a case can tell a gradient from the wrong answers the oracle knows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.compare import term_scales, tolerance
from rnn_oracle.derivations.base import Reference
from rnn_oracle.model import activation_derivative, forward, rounded_nonlinearities

#: Floor of the relative error's denominator (Theano's choice).
REL_FLOOR = 1e-8

#: Multiple of the measured drift allowed to a result. Two correct computations of an
#: ill-conditioned case drift by similar amounts (measured on 1 500 saturated float32 cases,
#: T ≤ 50: the ratio of one float32 BPTT's drift to another's stayed below 1.2; torch's
#: float32 stacks came within 5.6 of one sample); the campaign checks it at scale.
DRIFT_FACTOR = 8.0

#: float32: the local term scale times this many ``ε₃₂`` is the floor of the bound.
FLOAT32_LOCAL_ULPS = 32.0

#: ε-perturbed reruns behind the measured drift (besides the unperturbed one in float32).
DRIFT_SAMPLES = 3

#: A case can judge a gradient only if its bound resolves an error of this fraction of the
#: gradient's largest entry (zero, negated, transposed, scaled and truncated gradients all
#: differ from the right one by at least that much somewhere, or are not distinguishable
#: from it at all).
RESOLUTION = 1e-2


@dataclass(frozen=True)
class Bounds:
    rtol: float  #: the relative bound, and the multiple of a term scale that is the absolute one
    atol: dict[str, float]  #: absolute bound per canonical name (parameters, h0, inputs)
    loss_atol: float | None  #: absolute bound on the loss (None in layer mode)


def bounds(
    case: Case, ref: Reference, *, atol: float | None = None, rtol: float | None = None
) -> Bounds:
    """Bounds for ``case`` (in its own dtype) against the float64 reference ``ref``;
    ``atol``/``rtol`` replace the computed ones when given."""
    tol = tolerance(case.dtype, case.seq_len) if rtol is None else rtol
    per_term = local_tolerance(case.dtype)
    scales = term_scales(case, carried=False)
    drift = measured_drift(case, _single_layer_rerun, _single_layer_values(ref))
    bound = {
        name: combine(per_term, scales[name], drift[name]) if atol is None else atol
        for name in scales
    }
    loss_atol = None
    if case.spec.head != "none":
        loss_atol = (
            combine(per_term, loss_scale(case, ref), drift["loss"]) if atol is None else atol
        )
    return Bounds(rtol=tol, atol=bound, loss_atol=loss_atol)


def local_tolerance(dtype: str) -> float:
    """The multiple of a *local term scale* (a sum of absolute terms) that bounds the
    rounding of a correct sum of those terms: ``1e-10`` in float64 (as
    :func:`~rnn_oracle.compare.tolerance`), ``32 ε₃₂`` in float32. No ``√T`` here: the
    term scale already grows with every term summed (and ``ε`` times a sum of absolute
    values bounds a sum whose terms each carry a few ``ε`` of relative error), and how the
    errors travel through time is the measured drift's part. With the ``√T`` of
    :func:`~rnn_oracle.compare.tolerance` on top, the float32 floor reached 1–2 % of the
    gradient at ``T = 1000`` — a thousand times the measured drift — and no case could
    resolve a 1 % error."""
    if dtype == "float64":
        return tolerance("float64", 1)
    return FLOAT32_LOCAL_ULPS * float(np.finfo(np.float32).eps)


def combine(rtol: float, scale: float, drift: float) -> float:
    """The absolute bound ``max(rtol · S, F · D)`` (never exactly zero)."""
    return max(rtol * scale, DRIFT_FACTOR * drift, 1e-300)


def _single_layer_values(ref: Reference) -> dict[str, np.ndarray]:
    values = {k: np.asarray(v, dtype=np.float64) for k, v in ref.grads.items()}
    values["loss"] = np.asarray(ref.loss, dtype=np.float64).reshape(1)
    return values


def _single_layer_rerun(case: Case) -> dict[str, np.ndarray]:
    from rnn_oracle._reference import reference

    return _single_layer_values(reference(case, "numpy", "bptt").numpy())


def measured_drift(
    case: Any,
    rerun: Callable[[Any], Mapping[str, np.ndarray]],
    ref: Mapping[str, np.ndarray],
    *,
    per_entry: bool = False,
) -> dict[str, Any]:
    """How far correct computations of ``case`` in its own dtype land from ``ref``.

    ``rerun(case)`` is the hand BPTT (any architecture) returning float64 copies of the
    arrays in ``ref``. It runs on the case itself (float32 only: in float64 it *is* the
    reference) and on :data:`DRIFT_SAMPLES` copies whose every float array is perturbed by
    one rounding of the case's dtype, ``v (1 ± ε)`` with random signs (seeded by the case),
    and whose every nonlinearity output is rounded the same way as it is computed
    (:func:`~rnn_oracle.model.rounded_nonlinearities`: a saturated ``1 − h²`` is where
    another implementation's rounding shows most).
    Returns the largest deviation per array (``per_entry``: entry by entry), float64.
    """
    dtype = np.dtype(case.dtype)
    eps = float(np.finfo(dtype).eps)
    rng = np.random.default_rng(1_000_003 + int(case.seed or 0))
    out: dict[str, Any] = {
        k: np.zeros_like(v) if per_entry else 0.0 for k, v in ref.items()
    }
    samples: list[Any] = [case] if dtype == np.float32 else []
    arrays = _perturbable(case)
    for _ in range(DRIFT_SAMPLES):
        samples.append(case.with_arrays(**{
            n: (v * (1.0 + eps * rng.choice([-1.0, 1.0], size=v.shape))).astype(dtype)
            for n, v in arrays.items()
        }))
    def round_once(out: np.ndarray) -> np.ndarray:
        signs = rng.choice([-1.0, 1.0], size=np.shape(out))
        return np.asarray(out * (1.0 + eps * signs), dtype=np.asarray(out).dtype)

    for sample in samples:
        jitter = rounded_nonlinearities(round_once) if sample is not case else nullcontext()
        with np.errstate(over="ignore", invalid="ignore"), jitter:
            got = rerun(sample)
            for name, expected in ref.items():
                diff = np.abs(np.asarray(got[name], dtype=np.float64) - expected)
                diff = np.where(np.isfinite(diff), diff, np.inf)
                if per_entry:
                    out[name] = np.maximum(out[name], diff)
                else:
                    out[name] = max(out[name], float(np.max(diff, initial=0.0)))
    return out


def _perturbable(case: Any) -> dict[str, np.ndarray]:
    """The float arrays of a case that a rounding may perturb: parameters, states and dense
    inputs (one-hot inputs are exact)."""
    arrays = case.arrays() if callable(case.arrays) else case.arrays
    spec = case.spec
    exact_inputs = getattr(spec, "inputs", "dense") != "dense"
    return {
        n: np.asarray(v) for n, v in arrays.items()
        if np.asarray(v).dtype.kind == "f" and not (n == "inputs" and exact_inputs)
    }


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


def discriminates(
    reference: np.ndarray,
    atol: float,
    rtol: float,
    alternatives: Sequence[tuple[str, np.ndarray]] = (),
) -> str | None:
    """Can a case with this bound tell ``reference`` from the wrong answers? ``None`` if
    it can, else the reason it cannot.

    It can when the bound resolves :data:`RESOLUTION` of the largest entry (so every
    hypothesis that moves the gradient materially fails) and, explicitly, the zero
    gradient and every given alternative (negated, transposed, scaled, local-only, …) that
    differs from the reference by more than that fails the test. An alternative equal to
    the reference up to that (a transpose of a symmetric gradient, a truncation whose tail
    has vanished) is not a wrong answer on this case. A reference that is exactly zero is
    judged as is (a nonzero answer beyond rounding fails).
    """
    R = np.asarray(reference, dtype=np.float64)
    size = float(np.max(np.abs(R), initial=0.0))
    if size == 0.0:
        return None
    if not atol <= RESOLUTION * size:
        return (
            f"the bound {atol:.2g} is {atol / size:.2g} of the largest reference entry "
            f"{size:.2g}: the case cannot resolve a {RESOLUTION:.0%} error"
        )
    for label, value in (("zero", np.zeros_like(R)), *alternatives):
        value = np.asarray(value, dtype=np.float64)
        if value.shape != R.shape:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            moved = float(np.max(np.abs(value - R), initial=0.0))
        if moved > RESOLUTION * size and judge(value, R, atol, rtol).passed:
            return f"a {label} gradient passes the bound {atol:.2g} on this case"
    return None


def representable(values: Mapping[str, Any], dtype: str) -> str | None:
    """``None`` if every float64 reference value fits ``dtype`` with room for its
    arithmetic, else the reason the case cannot be judged in ``dtype``."""
    info = np.finfo(np.dtype(dtype))
    limit = float(info.max) * float(info.eps)  # leaves room for the sums that produce it
    for name, value in values.items():
        arr = np.asarray(value, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            big = float(np.max(np.abs(arr), initial=0.0))
        if not np.isfinite(big):
            return f"its exact {name} is not finite"
        if big > limit:
            return f"its exact {name} ({big:.3g}) is beyond what {dtype} can hold and sum"
    return None


def underflows(reference: np.ndarray, dtype: str) -> str | None:
    """``None`` unless the gradient's largest entry is so small that ``dtype`` holds it
    only as a subnormal (XLA flushes those to zero): then the reason."""
    size = float(np.max(np.abs(np.asarray(reference, dtype=np.float64)), initial=0.0))
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    if 0.0 < size < tiny / float(np.finfo(np.dtype(dtype)).eps):
        return f"its largest entry {size:.3g} underflows {dtype}"
    return None


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


def step_judgements(
    actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float
) -> list[tuple[float, bool]]:
    """:func:`judge` of every slice ``[t]`` along the leading (time) axis at once:
    ``(ratio, passed)`` per step."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.abs(a) + np.abs(b), REL_FLOOR)
        diff = np.where(np.isfinite(diff), diff, np.inf)
        rel = np.where(np.isfinite(rel), rel, np.inf)
        fail = np.asarray(((diff > atol) & (rel > rtol)).reshape(len(a), -1).any(axis=1))
        ratio = np.minimum(diff / max(atol, 1e-300), rel / max(rtol, 1e-300))
    flat = ratio.reshape(len(a), -1)
    at = np.argmax(np.where(fail[:, None], ratio.reshape(len(a), -1), -np.inf), axis=1)
    worst = np.where(fail, flat[np.arange(len(a)), at],
                     np.take_along_axis(flat, np.argmax(diff.reshape(len(a), -1), axis=1)[:, None],
                                        axis=1)[:, 0])
    return [(float(r), not bool(f)) for r, f in zip(worst, fail, strict=True)]


def _argmax(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))
