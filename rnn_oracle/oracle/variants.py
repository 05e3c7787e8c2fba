"""Wrong gradients on purpose: hand BPTT with one named slip, for the diagnosis.

Each function computes, in float64 NumPy and independently of
:mod:`rnn_oracle.derivations`, the gradient a buggy implementation would return: a wrong
activation derivative, a state taken one step off, the recurrent weight transposed in the
backward recursion, or truncated backpropagation (every truncation length at once, from
one decomposition of the gradient by how many steps each contribution travelled back).

Arrays are canonical; unbatched cases are handled as a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    return Forward(x, h0, a, hs, h_prev, dh_out, d_o, batched)


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


def variant_bptt(case: Case, fwd: Forward, slip: Slip) -> tuple[Grads, Grads]:
    """Gradients and per-step contributions ``(T, *shape)`` of a BPTT with ``slip``."""
    spec, p = case.spec, case.astype("float64").params
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
    per_step = {
        "W_hh": np.einsum("tbi,tbj->tij", da, state_hh),
        "W_xh": np.einsum("tbi,tbj->tij", da, fwd.x),
        "b_h": da.sum(axis=1),
    }
    if fwd.d_o is not None:
        state_hy = fwd.h if slip.w_hy_state == "current" else fwd.h_prev
        per_step["W_hy"] = np.einsum("tbi,tbj->tij", fwd.d_o, state_hy)
        per_step["b_y"] = fwd.d_o.sum(axis=1)
    grads = {n: v.sum(axis=0) for n, v in per_step.items()}
    grads["h0"] = _unbatch(dh_next, fwd.batched)
    grads["inputs"] = _unbatch(da @ p["W_xh"], fwd.batched)
    return grads, per_step


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


@dataclass(frozen=True)
class Decomposition:
    """The gradient split by how far back each contribution travelled.

    ``by_distance[name][d, s]`` is the contribution to ``name`` at step ``s`` of the losses
    at step ``t = s + d``. Truncated BPTT with ``k`` steps keeps ``d < k``; ``k = 1`` is
    the local gradient with no recurrent contribution. ``h0[d]`` is the part of ``∂J/∂h0``
    from the loss at step ``d``.
    """

    by_distance: dict[str, np.ndarray]

    def truncated(self, name: str, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Gradient and per-step stack (None for data) of truncated BPTT with ``k`` steps."""
        part = self.by_distance[name][:k]
        if name in ("h0", "inputs"):
            return part.sum(axis=0), None
        per_step = part.sum(axis=0)
        return per_step.sum(axis=0), per_step


def decompose(case: Case, fwd: Forward) -> Decomposition:
    """One pass per loss step: O(T²) small matrix products (diagnosis only)."""
    p = case.astype("float64").params
    dphi = true_derivative(case.spec.cell, fwd.a, fwd.h)
    T, B = fwd.x.shape[:2]
    n_h, n_x = p["W_hh"].shape[0], p["W_xh"].shape[1]
    out: dict[str, Any] = {
        "W_hh": np.zeros((T, T, n_h, n_h)),
        "W_xh": np.zeros((T, T, n_h, n_x)),
        "b_h": np.zeros((T, T, n_h)),
        "inputs": np.zeros((T, T, B, n_x)),
        "h0": np.zeros((T, B, n_h)),
    }
    for t in range(T):
        dh = fwd.dh_out[t]
        for s in range(t, -1, -1):
            d = t - s
            da = dh * dphi[s]
            out["W_hh"][d, s] = da.T @ fwd.h_prev[s]
            out["W_xh"][d, s] = da.T @ fwd.x[s]
            out["b_h"][d, s] = da.sum(axis=0)
            out["inputs"][d, s] = da @ p["W_xh"]
            dh = da @ p["W_hh"]
        out["h0"][t] = dh
    if not fwd.batched:
        out["inputs"] = out["inputs"][:, :, 0, :]
        out["h0"] = out["h0"][:, 0, :]
    return Decomposition(out)
