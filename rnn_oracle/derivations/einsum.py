"""Elementwise index sums (seed 002's answer): no matrix product anywhere.

Every quantity is written entry by entry and summed over its repeated index, using
broadcasting and ``sum`` only:

    ∂h_{t,i}/∂h_{t-1,j} = phi'(a_{t,i}) w_ij                   (seed 002, with parentheses)
    (∇_{h(t-1)} J)_j    = Σ_i (∇_{h(t)} J)_i phi'(a_{t,i}) w_ij  + Σ_k (∂J/∂o_{t-1})_k v_kj
    (∂J/∂W_hh)_ij       = Σ_t Σ_b δ_{t,b,i} h_{t-1,b,j}          and so on.

It shares with BPTT only the forward pass; a slip in an index (``w_ji`` for ``w_ij``)
shows up here as a transposed gradient.
"""

from __future__ import annotations

from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.derivations.common import start

Array = Any


def contract_rows(xp: Any, vector: Array, matrix: Array) -> Array:
    """``Σ_i v_i M_ij`` for a (stack of) ``v`` — i.e. ``Mᵀ v`` — by broadcasting."""
    return xp.sum(vector[..., :, None] * matrix, axis=-2)


def index_sum(xp: Any, left: Array, right: Array) -> Array:
    """``Σ_t Σ_b left_{t,b,i} right_{t,b,j}`` by broadcasting: ``(n_left, n_right)``."""
    axes = tuple(range(left.ndim - 1))
    return xp.sum(left[..., :, None] * right[..., None, :], axis=axes)


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    s = start(case, backend)
    xp, p = s.xp, s.on.arrays
    w = s.traj.weight
    # Σ_k (∂J/∂o)_k v_kj through the output layer; the given upstream for head none.
    dh_direct = (
        contract_rows(xp, s.d_o, p["W_hy"]) if s.d_o is not None else w * s.on.upstream
    )
    delta_rev = []
    grad_h = dh_direct[-1]
    for t in range(case.seq_len - 1, -1, -1):
        delta_t = grad_h * s.dphi[t]
        delta_rev.append(delta_t)
        back = contract_rows(xp, delta_t, p["W_hh"])  # Σ_i δ_i w_ij
        grad_h = back + dh_direct[t - 1] if t > 0 else back
    delta = xp.stack(delta_rev[::-1], axis=0)
    grads = {
        "W_hh": index_sum(xp, delta, s.h_prev),
        "W_xh": index_sum(xp, delta, s.x),
        "b_h": xp.sum(delta, axis=tuple(range(delta.ndim - 1))),
    }
    if s.d_o is not None:
        grads["W_hy"] = index_sum(xp, s.d_o, s.traj.h)
        grads["b_y"] = xp.sum(s.d_o, axis=tuple(range(s.d_o.ndim - 1)))
    grads["h0"] = grad_h
    if "inputs" in p:
        grads["inputs"] = contract_rows(xp, delta, p["W_xh"])
    return Reference(
        method="einsum", backend=backend.name, dtype=case.dtype, loss=s.traj.loss, grads=grads
    )
