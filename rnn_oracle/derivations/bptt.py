"""Hand-derived backpropagation through time (seed 003 §3), for every cell, head and
reduction, written once against the backend's array namespace.

Per step, in seed 003's column-vector notation with the canonical names
(``W_aa = W_hhᵀ``, ``W_ax = W_xhᵀ``, ``W_ya = W_hyᵀ``) and ``w`` the factor that the
loss sign and the reductions give every per-sample step loss:

* ``∂J/∂o_t = w (ŷ_t − y_t)`` (softmax_ce) or ``w (o_t − y_t)`` (linear_mse);
* ``∂J/∂h_t = W_hyᵀ ∂J/∂o_t + W_hhᵀ ∂J/∂a_{t+1}`` — the output path plus the path
  from step ``t+1`` (zero at ``t = T``); this is DL book eq. 10.21;
* ``∂J/∂a_t = ∂J/∂h_t ∘ phi'(a_t)``;
* ``∇^{(t)}_{W_hh} = ∂J/∂a_t h_{t-1}ᵀ``, ``∇^{(t)}_{W_xh} = ∂J/∂a_t x_tᵀ``,
  ``∇^{(t)}_{b_h} = ∂J/∂a_t``, ``∇^{(t)}_{W_hy} = ∂J/∂o_t h_tᵀ``, ``∇^{(t)}_{b_y} = ∂J/∂o_t``,
  each summed over the batch; the gradients are ``Σ_t ∇^{(t)}``.

The gradients are formed as one product over all steps at once (``Σ_t δ_t h_{t-1}ᵀ`` is
``Δᵀ H₋``); the per-step contributions and the local partials are computed when first
read (:class:`~rnn_oracle.derivations.base.LazyMapping`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import LazyMapping, Reference, to_backend
from rnn_oracle.derivations.common import Start, per_step_contributions, rows, start

Array = Any


def _backward(s: Start) -> tuple[Array, Array]:
    """``∂J/∂a_t`` and ``∇_{h(t)} J`` for every step (``∂J/∂h_0`` is ``δ_1 W_hh``)."""
    xp, W_hh = s.xp, s.on.arrays["W_hh"]
    # The recursion runs backwards; lists are reversed once at the end (no in-place
    # writes, so JAX's immutable arrays work unchanged).
    dh_next = xp.zeros_like(s.dh_out[0])
    da_rev, dh_rev = [], []
    for t in range(s.case.seq_len - 1, -1, -1):
        dh_t = s.dh_out[t] + dh_next
        da_t = dh_t * s.dphi[t]
        dh_next = da_t @ W_hh
        dh_rev.append(dh_t)
        da_rev.append(da_t)
    return xp.stack(da_rev[::-1], axis=0), xp.stack(dh_rev[::-1], axis=0)


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    """Loss, gradients, per-step contributions, hidden-state gradients and local partials."""
    s = start(case, backend)
    xp, p = s.xp, s.on.arrays
    da, hidden_grads = _backward(s)

    D = rows(xp, da)
    grads = {
        "W_hh": D.T @ rows(xp, s.h_prev),
        "W_xh": D.T @ rows(xp, s.x),
        "b_h": xp.sum(D, axis=0),
    }
    if s.d_o is not None:
        DO = rows(xp, s.d_o)
        grads["W_hy"] = DO.T @ rows(xp, s.traj.h)
        grads["b_y"] = xp.sum(DO, axis=0)
    grads["h0"] = da[0] @ p["W_hh"]
    if "inputs" in p:
        grads["inputs"] = da @ p["W_xh"]

    def scope() -> contextlib.AbstractContextManager[None]:
        return backend.precision(case.dtype)

    return Reference(
        method="bptt",
        backend=backend.name,
        dtype=case.dtype,
        loss=s.traj.loss,
        grads=grads,
        per_step=LazyMapping(lambda: per_step_contributions(s, da), scope),
        hidden_grads=hidden_grads,
        # Step t's own loss through step t alone: the output path only, no recurrence.
        local=LazyMapping(lambda: per_step_contributions(s, s.dh_out * s.dphi), scope),
    )
