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
from rnn_oracle.model import Trajectory, activation_derivative, forward, stack_matmul
from rnn_oracle.spec import RNNSpec

Array = Any


@dataclass(frozen=True)
class Start:
    """The forward pass of one case and the local pieces every derivation needs.

    It holds the spec, not the case: inside a compiled program (JAX) it is built from the
    program's array arguments, and the case's own data must not be baked into the trace.
    """

    spec: RNNSpec
    on: OnBackend
    xp: Any
    traj: Trajectory
    x: Array  #: dense input rows ``(T, [B,] n_x)``
    h_prev: Array  #: ``h_{t-1}`` for every step, ``(T, [B,] n_h)`` (``h0`` first)
    dphi: Array  #: ``phi'(a_t)``, ``(T, [B,] n_h)``
    d_o: Array | None  #: ``∂J/∂o_t`` (None for head ``none``), ``(T, [B,] n_y)``
    dh_out: Array  #: ``∂J/∂h_t`` through step ``t``'s own loss only, ``(T, [B,] n_h)``

    @property
    def seq_len(self) -> int:
        return int(self.x.shape[0])

    @property
    def batch(self) -> int | None:
        return int(self.x.shape[1]) if self.x.ndim == 3 else None


def start(case: Case, backend: Backend) -> Start:
    return start_on(case.spec, to_backend(case, backend))


def start_on(spec: RNNSpec, on: OnBackend) -> Start:
    """:class:`Start` from a case's arrays already on a backend (or traced)."""
    xp = on.backend.xp
    p = on.arrays
    x = on.x
    traj = forward(spec, p, x, p["h0"], xp, targets=on.targets, upstream=on.upstream)
    w = traj.weight
    if spec.head == "none":
        d_o = None
        dh_out = w * on.upstream
    else:
        d_o = w * (traj.yhat - on.targets)
        dh_out = stack_matmul(xp, d_o, p["W_hy"])
    h_prev = xp.concat([p["h0"][None, ...], traj.h[:-1]], axis=0)
    dphi = activation_derivative(spec.cell, traj.a, traj.h, xp)
    return Start(spec, on, xp, traj, x, h_prev, dphi, d_o, dh_out)


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


def per_step_contributions(
    xp: Any, delta: Array, h_prev: Array, x: Array, d_o: Array | None, h: Array
) -> dict[str, Array]:
    """Seed 003's ``∇^{(t)}`` of every parameter, from ``δ_t = ∂J/∂a_t`` (``(T, [B,] n_h)``):
    ``δ_t h_{t-1}ᵀ``, ``δ_t x_tᵀ``, ``δ_t``, and ``∂J/∂o_t h_tᵀ``, ``∂J/∂o_t`` for the output
    layer (``d_o``; None for head none) — each summed over the batch, stacked over time.
    The arrays are passed one by one (not a :class:`Start`): hand BPTT reads them from a
    compiled program's outputs."""
    out = {
        "W_hh": outer_sum(xp, delta, h_prev),
        "W_xh": outer_sum(xp, delta, x),
        "b_h": batch_sum(xp, delta),
    }
    if d_o is not None:
        out["W_hy"] = outer_sum(xp, d_o, h)
        out["b_y"] = batch_sum(xp, d_o)
    return out
