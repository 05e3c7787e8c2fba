"""What every hand derivation starts from: the forward trajectory and the output path.

The derivations differ in how they carry ``∂J/∂h_t`` backwards (or sensitivities forwards)
and how they assemble parameter gradients; they share the forward pass and the
gradient that reaches each ``h_t`` directly from step ``t``'s own loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations.base import OnBackend, to_backend
from rnn_oracle.model import Trajectory, activation_derivative, forward

Array = Any


@dataclass(frozen=True)
class Start:
    """The forward pass of one case and the local pieces every derivation needs."""

    case: Case
    on: OnBackend
    xp: Any
    traj: Trajectory
    x: Array  #: dense input rows ``(T, [B,] n_x)``
    h_prev: Array  #: ``h_{t-1}`` for every step, ``(T, [B,] n_h)`` (``h0`` first)
    dphi: Array  #: ``phi'(a_t)``, ``(T, [B,] n_h)``
    d_o: Array | None  #: ``∂J/∂o_t`` (None for head ``none``), ``(T, [B,] n_y)``
    dh_out: Array  #: ``∂J/∂h_t`` through step ``t``'s own loss only, ``(T, [B,] n_h)``


def start(case: Case, backend: Backend) -> Start:
    on = to_backend(case, backend)
    xp = backend.xp
    spec = case.spec
    p = on.arrays
    x = on.x
    traj = forward(spec, p, x, p["h0"], xp, targets=on.targets, upstream=on.upstream)
    w = traj.weight
    if spec.head == "none":
        d_o = None
        dh_out = w * on.upstream
    else:
        d_o = w * (traj.yhat - on.targets)
        dh_out = d_o @ p["W_hy"]
    h_prev = xp.concat([p["h0"][None, ...], traj.h[:-1]], axis=0)
    dphi = activation_derivative(spec.cell, traj.a, traj.h, xp)
    return Start(case, on, xp, traj, x, h_prev, dphi, d_o, dh_out)


def rows(xp: Any, stack: Array) -> Array:
    """A ``(T, [B,] n)`` stack as ``(T·B, n)`` rows."""
    return xp.reshape(stack, (-1, stack.shape[-1]))


def batch_sum(xp: Any, stack: Array) -> Array:
    """Sum a ``(T, [B,] n)`` stack over the batch axis, if any: ``(T, n)``."""
    return xp.sum(stack, axis=1) if stack.ndim == 3 else stack


def outer_sum(xp: Any, left: Array, right: Array) -> Array:
    """``Σ_b left[t, b] right[t, b]ᵀ`` for every ``t``: ``(T, [B,] m), (T, [B,] n) -> (T, m, n)``.

    An unbatched stack is a batch of one, so one batched matmul serves both.
    """
    seq_len = left.shape[0]
    left3 = xp.reshape(left, (seq_len, -1, left.shape[-1]))
    right3 = xp.reshape(right, (seq_len, -1, right.shape[-1]))
    return left3.mT @ right3


def per_step_contributions(s: Start, delta: Array) -> dict[str, Array]:
    """Seed 003's ``∇^{(t)}`` of every parameter, from ``δ_t = ∂J/∂a_t`` (``(T, [B,] n_h)``):
    ``δ_t h_{t-1}ᵀ``, ``δ_t x_tᵀ``, ``δ_t``, and ``∂J/∂o_t h_tᵀ``, ``∂J/∂o_t`` for the output
    layer — each summed over the batch, stacked over time."""
    xp = s.xp
    out = {
        "W_hh": outer_sum(xp, delta, s.h_prev),
        "W_xh": outer_sum(xp, delta, s.x),
        "b_h": batch_sum(xp, delta),
    }
    if s.d_o is not None:
        out["W_hy"] = outer_sum(xp, s.d_o, s.traj.h)
        out["b_y"] = batch_sum(xp, s.d_o)
    return out
