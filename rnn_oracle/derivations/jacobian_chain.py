"""The Jacobian chain (seed 002; DL book eq. 10.21).

Every step's Jacobian is formed explicitly as a matrix,

    ∂h_t/∂h_{t-1} = diag(phi'(a_t)) W_hh        (seed 002: entry (i, j) is (1 − h_{t,i}²) w_ij),

and the hidden-state gradients are chained through their transposes,

    ∇_{h(t)} J = (∂h_{t+1}/∂h_t)ᵀ ∇_{h(t+1)} J + W_hyᵀ ∂J/∂o_t,

exactly as eq. 10.21 writes them. Parameter gradients then follow from
``∂J/∂a_t = (∂h_t/∂a_t)ᵀ ∇_{h(t)} J`` with ``∂h_t/∂a_t = diag(phi'(a_t))`` also formed as a
matrix. It costs ``O(T B n_h²)`` memory for the Jacobians — the price of writing them out.
"""

from __future__ import annotations

from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.derivations.common import per_step_contributions, start
from rnn_oracle.model import device_of

Array = Any


def diag_matrices(xp: Any, v: Array) -> Array:
    """``diag(v)`` for every vector of a ``(..., n)`` stack: ``(..., n, n)``."""
    n = v.shape[-1]
    eye = xp.eye(n, dtype=v.dtype, device=device_of(v))
    return eye * v[..., None, :]


def step_jacobians(xp: Any, dphi: Array, W_hh: Array) -> Array:
    """``∂h_t/∂h_{t-1} = diag(phi'(a_t)) W_hh`` for every step: ``(T, [B,] n_h, n_h)``."""
    return diag_matrices(xp, dphi) @ W_hh


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    s = start(case, backend)
    xp, p = s.xp, s.on.arrays
    jac = step_jacobians(xp, s.dphi, p["W_hh"])  # jac[t] = ∂h_t/∂h_{t-1}
    dh_da = diag_matrices(xp, s.dphi)  # ∂h_t/∂a_t

    def times_transpose(matrix: Array, vector: Array) -> Array:
        """``Mᵀ v`` for a (stack of) matrix and vector(s)."""
        return (matrix.mT @ vector[..., None])[..., 0]

    grads_h_rev = [s.dh_out[-1]]
    for t in range(case.seq_len - 2, -1, -1):
        grads_h_rev.append(s.dh_out[t] + times_transpose(jac[t + 1], grads_h_rev[-1]))
    hidden = xp.stack(grads_h_rev[::-1], axis=0)
    da = times_transpose(dh_da, hidden)  # ∂J/∂a_t = diag(phi'(a_t)) ∇_{h(t)} J

    per_step = per_step_contributions(xp, da, s.h_prev, s.x, s.d_o, s.traj.h)
    grads = {n: xp.sum(per_step[n], axis=0) for n in case.spec.param_names}
    grads["h0"] = times_transpose(jac[0], hidden[0])  # ∂h_1/∂h_0 = diag(phi'(a_1)) W_hh
    if "inputs" in p:
        # ∂a_t/∂x_t = W_xh, so ∂J/∂x_t = W_xhᵀ ∂J/∂a_t.
        grads["inputs"] = times_transpose(p["W_xh"], da)
    return Reference(
        method="jacobian_chain",
        backend=backend.name,
        dtype=case.dtype,
        loss=s.traj.loss,
        grads=grads,
        per_step=per_step,
        hidden_grads=hidden,
    )

