"""Wrong gradients on purpose: hand BPTT with one named slip, for the diagnosis.

Each function computes, in float64 NumPy and independently of
:mod:`rnn_oracle.derivations`, the gradient a buggy implementation would return: a wrong
activation derivative, a state taken one step off, the recurrent weight transposed in the
backward recursion, or truncated backpropagation (every truncation length in one
cumulative pass).

Arrays are canonical; unbatched cases are handled as a batch of one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.model import activation, log_softmax, loss_weight

Grads = dict[str, np.ndarray]


@dataclass(frozen=True)
class Forward:
    """The forward pass of a case with a batch axis: every stack is ``(T, B, n)``."""

    x: np.ndarray
    h0: np.ndarray  #: ``(B, n_h)``
    a: np.ndarray
    h: np.ndarray
    h_prev: np.ndarray
    dh_out: np.ndarray  #: ``∂J/∂h_t`` through step t's own loss
    d_o: np.ndarray | None
    batched: bool
    params: Grads  #: the case's parameters in float64 (cast once, for every variant)


def run_forward(case: Case) -> Forward:
    case = case.astype("float64")
    spec, p = case.spec, case.params
    batched = case.batch is not None
    if spec.inputs == "indices":
        x = np.eye(spec.n_x)[case.inputs]
    else:
        x = np.asarray(case.inputs, dtype=np.float64)
    if not batched:
        x = x[:, None, :]
    h0 = case.h0 if batched else case.h0[None, :]
    a_steps, h_steps, h = [], [], h0
    for t in range(case.seq_len):
        a_t = h @ p["W_hh"].T + x[t] @ p["W_xh"].T + p["b_h"]
        h = activation(spec.cell, a_t, np)
        a_steps.append(a_t)
        h_steps.append(h)
    a, hs = np.stack(a_steps), np.stack(h_steps)
    w = loss_weight(spec, case.seq_len, case.batch)
    d_o = None
    if spec.head == "none":
        up = np.asarray(case.upstream)
        dh_out = w * (up if batched else up[:, None, :])
    else:
        o = hs @ p["W_hy"].T + p["b_y"]
        if spec.head == "softmax_ce":
            y = np.eye(spec.n_y)[case.targets]
            y = y if batched else y[:, None, :]
            d_o = w * (np.exp(log_softmax(o, np)) - y)
        else:
            y = np.asarray(case.targets)
            d_o = w * (o - (y if batched else y[:, None, :]))
        dh_out = d_o @ p["W_hy"]
    h_prev = np.concatenate([h0[None], hs[:-1]], axis=0)
    return Forward(x, h0, a, hs, h_prev, dh_out, d_o, batched, dict(p))


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-a)))


#: Activation derivatives people write by mistake, by label, as functions of ``(a, h)``.
DERIVATIVES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "1 − h²": lambda a, h: 1.0 - h * h,
    "1 − a²": lambda a, h: 1.0 - a * a,
    "1 − h": lambda a, h: 1.0 - h,
    "h (1 − h)": lambda a, h: h * (1.0 - h),
    "σ(a) (1 − σ(a))": lambda a, h: _sigmoid(a) * (1.0 - _sigmoid(a)),
    "a (1 − a)": lambda a, h: a * (1.0 - a),
    "1 − tanh(h)²": lambda a, h: 1.0 - np.tanh(h) ** 2,
    "1 (derivative omitted)": lambda a, h: np.ones_like(a),
    "1[h > 0]": lambda a, h: (h > 0).astype(np.float64),
}


def true_derivative(cell: str, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    if cell == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if cell == "sigmoid":
        return _sigmoid(a) * (1.0 - _sigmoid(a))
    if cell == "relu":
        return (a > 0).astype(np.float64)
    return np.ones_like(a)


@dataclass(frozen=True)
class Slip:
    """Where a variant BPTT departs from the correct one (all defaults: no slip)."""

    derivative: str | None = None  #: a :data:`DERIVATIVES` label used instead of phi'(a_t)
    derivative_of_previous: bool = False  #: phi' evaluated at step t−1's state
    w_hh_state: str = "prev"  #: ``"current"``: ∇W_hh uses h_t instead of h_{t−1}
    w_hy_state: str = "current"  #: ``"prev"``: ∇W_hy uses h_{t−1} instead of h_t
    recurrent_transposed: bool = False  #: ∂J/∂h_{t−1} = ∂J/∂a_t W_hhᵀ instead of W_hh


def variant_bptt(
    case: Case, fwd: Forward, slip: Slip, per_step: bool = True
) -> tuple[Grads, Grads]:
    """Gradients and per-step contributions ``(T, *shape)`` of a BPTT with ``slip``
    (without ``per_step``, the contributions are left out: ``{}``)."""
    spec, p = case.spec, fwd.params
    if slip.derivative is not None:
        dphi = DERIVATIVES[slip.derivative](fwd.a, fwd.h)
    else:
        dphi = true_derivative(spec.cell, fwd.a, fwd.h)
    if slip.derivative_of_previous:
        # phi' written through the state (1 − h²), but of h_{t−1}: h0 serves at step 0.
        dphi = _derivative_from_state(spec.cell, fwd.h_prev)
    w_back = p["W_hh"].T if slip.recurrent_transposed else p["W_hh"]
    T = fwd.x.shape[0]
    da = np.empty_like(fwd.a)
    dh_next = np.zeros_like(fwd.h0)
    for t in range(T - 1, -1, -1):
        da[t] = (fwd.dh_out[t] + dh_next) * dphi[t]
        dh_next = da[t] @ w_back
    state_hh = fwd.h if slip.w_hh_state == "current" else fwd.h_prev
    outer = "tbi,tbj->tij" if per_step else "tbi,tbj->ij"
    axes = 1 if per_step else (0, 1)
    parts = {
        "W_hh": np.einsum(outer, da, state_hh),
        "W_xh": np.einsum(outer, da, fwd.x),
        "b_h": da.sum(axis=axes),
    }
    if fwd.d_o is not None:
        state_hy = fwd.h if slip.w_hy_state == "current" else fwd.h_prev
        parts["W_hy"] = np.einsum(outer, fwd.d_o, state_hy)
        parts["b_y"] = fwd.d_o.sum(axis=axes)
    grads = {n: v.sum(axis=0) for n, v in parts.items()} if per_step else dict(parts)
    grads["h0"] = _unbatch(dh_next, fwd.batched)
    grads["inputs"] = _unbatch(da @ p["W_xh"], fwd.batched)
    return grads, parts if per_step else {}


def _derivative_from_state(cell: str, h: np.ndarray) -> np.ndarray:
    if cell == "tanh":
        return 1.0 - h * h
    if cell == "sigmoid":
        return h * (1.0 - h)
    if cell == "relu":
        return (h > 0).astype(np.float64)
    return np.ones_like(h)


def _unbatch(value: np.ndarray, batched: bool) -> np.ndarray:
    return value if batched else value[..., 0, :]


def truncated_deltas(case: Case, fwd: Forward) -> Iterator[np.ndarray]:
    """``∂J/∂a_s`` of BPTT truncated after ``k`` steps, ``(T, B, n_h)``, for k = 1, 2, …, T.

    Truncation keeps a loss's contribution at step ``s`` while it has travelled back fewer
    than ``k`` steps. One cumulative pass gives every ``k``: pass ``d`` moves every loss's
    backward signal one step further back (one ``(T·B, n_h) × (n_h, n_h)`` product) and adds
    what arrives, so all of them cost ``O(T²·B·n_h²)`` time and ``O(T·B·n_h)`` memory. Every
    gradient is linear in ``∂J/∂a`` (:func:`truncated_gradient`); the yielded array is reused
    in place, so copy what you keep.
    """
    p = fwd.params
    dphi = true_derivative(case.spec.cell, fwd.a, fwd.h)
    T = fwd.a.shape[0]
    arriving = np.array(fwd.dh_out)  # ∂J_{s+d}/∂h_s, for the d of this pass, at s < T − d
    total = np.zeros_like(fwd.a)
    for d in range(T):
        da = arriving[: T - d] * dphi[: T - d]
        total[: T - d] += da
        yield total
        if d + 1 < T:  # one (T·B, n_h) × (n_h, n_h) product (a 3-d matmul loops over T)
            rest = da[1:]
            arriving = (rest.reshape(-1, rest.shape[-1]) @ p["W_hh"]).reshape(rest.shape)


def truncated_gradient(
    case: Case, fwd: Forward, name: str, da: np.ndarray, per_step: bool = False
) -> np.ndarray:
    """The gradient of ``name`` (``W_hh, W_xh, b_h, inputs, h0``) given ``∂J/∂a`` ``da``;
    with ``per_step``, the ``(T, *shape)`` stack of a parameter's per-step contributions."""
    p = fwd.params
    pairs = {"W_hh": fwd.h_prev, "W_xh": fwd.x}
    if name in pairs:
        if per_step:
            return np.einsum("tbi,tbj->tij", da, pairs[name])
        other = pairs[name]  # Σ_t Σ_b da ⊗ other, as one matrix product
        return da.reshape(-1, da.shape[-1]).T @ other.reshape(-1, other.shape[-1])
    if name == "b_h":
        return da.sum(axis=1) if per_step else da.sum(axis=(0, 1))
    if name == "inputs":
        return _unbatch(da @ p["W_xh"], fwd.batched)
    if name == "h0":
        return _unbatch(da[0] @ p["W_hh"], fwd.batched)
    raise KeyError(name)


def truncated(case: Case, fwd: Forward, name: str, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradient and per-step stack (None for data) of BPTT truncated after ``k`` steps."""
    # the k-th yield (k ≥ T keeps everything: the full gradient)
    da = next(itertools.islice(truncated_deltas(case, fwd), min(k, case.seq_len) - 1, None))
    stack = None if name in ("inputs", "h0") else truncated_gradient(case, fwd, name, da, True)
    return truncated_gradient(case, fwd, name, da), stack
