"""Parameter Jacobians as Kronecker factors (seed 001), applied lazily.

With column-major ``vec``, the pre-activation ``a = W h + …`` has

    ∂a/∂vec(W) = hᵀ ⊗ I        (seed 001's ``e₁ᵀ ⊗ I`` for ``W_hxᵀ e₁``, numerator layout),

so the gradient collects ``vec(∇_W J) = Σ_r (h_r ⊗ I) δ_r`` over every step and sample
``r``, with ``δ_r = ∂J/∂a_r``. Stacking the ``h_r`` as the rows of ``H`` and the ``δ_r`` as
the columns of ``Δ`` makes that one operator, ``(Hᵀ ⊗ I) vec(Δ)``, which
:class:`conventions.Kron` applies as ``vec(Δ H)`` — the ``n_h² × n_h R`` Kronecker
product is never formed. ``δ`` itself is carried back with ``∂a_t/∂h_{t-1} = W_hh``.
"""

from __future__ import annotations

from typing import Any

from backends import Backend
from conventions import Identity, Kron, unvec, vec
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.derivations.common import Start, rows, start

Array = Any


def parameter_gradient(xp: Any, delta_rows: Array, input_rows: Array) -> Array:
    """``unvec((Uᵀ ⊗ I) vec(Δ))`` for rows ``U`` (the ``h_{t-1}`` or ``x_t``) and rows of
    ``δ``: the gradient of a weight matrix, shape ``(n_out, n_in)``."""
    n_out, n_in = delta_rows.shape[-1], input_rows.shape[-1]
    factor = Kron(input_rows.T, Identity(n_out))  # (n_out·n_in) × (n_out·R), lazy
    return unvec(factor @ vec(delta_rows.T), (n_out, n_in))


def deltas(s: Start) -> Array:
    """``δ_t = ∂J/∂a_t`` for every step, carried back through ``∂a_t/∂h_{t-1} = W_hh``."""
    xp, W_hh = s.xp, s.on.arrays["W_hh"]
    out = []
    carried = xp.zeros_like(s.dh_out[0])
    for t in range(s.seq_len - 1, -1, -1):
        delta = (s.dh_out[t] + carried) * s.dphi[t]
        carried = delta @ W_hh
        out.append(delta)
    return xp.stack(out[::-1], axis=0)


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    s = start(case, backend)
    xp, p = s.xp, s.on.arrays
    delta = deltas(s)
    grads = {
        "W_hh": parameter_gradient(xp, rows(xp, delta), rows(xp, s.h_prev)),
        "W_xh": parameter_gradient(xp, rows(xp, delta), rows(xp, s.x)),
        # ∂a/∂b_h = I: the bias gradient is the sum of the δ's.
        "b_h": xp.sum(rows(xp, delta), axis=0),
    }
    if s.d_o is not None:
        grads["W_hy"] = parameter_gradient(xp, rows(xp, s.d_o), rows(xp, s.traj.h))
        grads["b_y"] = xp.sum(rows(xp, s.d_o), axis=0)
    grads["h0"] = delta[0] @ p["W_hh"]
    if "inputs" in p:
        grads["inputs"] = delta @ p["W_xh"]
    return Reference(
        method="kronecker", backend=backend.name, dtype=case.dtype, loss=s.traj.loss, grads=grads
    )
