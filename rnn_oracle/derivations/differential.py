"""Closed forms read off the differential ``dJ = G : dW`` (seed 000's answer).

Stack every step and sample as rows: pre-activations ``A = H₋ W_hhᵀ + X W_xhᵀ + 1 b_hᵀ``,
outputs ``Z = H W_hyᵀ + 1 b_yᵀ``. With ``Δ = ∂J/∂A`` (rows ``δ_r``),

    dJ = Δ : dA = Δ : H₋ dW_hhᵀ = Δᵀ H₋ : dW_hh     ⇒   ∂J/∂W_hh = Δᵀ H₋,

and likewise ``∂J/∂W_xh = Δᵀ X``, ``∂J/∂b_h = Δᵀ 1``, ``∂J/∂W_hy = (∂J/∂Z)ᵀ H``: each
gradient is one product over all ``T·B`` rows, with no per-step sum. The output
differential follows the answer literally: for ``ℓ = −y : log softmax(z)``,
``dℓ = −(I − ŷ 1ᵀ) y : dz``, so ``∂ℓ/∂z = ŷ (1ᵀ y) − y`` — which is ``ŷ − y`` only because
``1ᵀ y = 1``. ``Δ`` comes from ``dh = diag(phi') da`` and ``da_t = W_hh dh_{t-1} + …``.
"""

from __future__ import annotations

from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.derivations.common import rows, start

Array = Any


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    s = start(case, backend)
    xp, p, spec = s.xp, s.on.arrays, case.spec
    w = s.traj.weight
    if spec.head == "softmax_ce":
        y = s.on.targets
        total = xp.sum(y, axis=-1, keepdims=True)  # 1ᵀ y, kept: the answer's normalisation
        dz = w * (s.traj.yhat * total - y)
    elif spec.head == "linear_mse":
        dz = w * (s.traj.o - s.on.targets)
    else:
        dz = None
    dh_direct = w * s.on.upstream if dz is None else dz @ p["W_hy"]

    # dJ = Σ_t (∂J/∂h_t) : dh_t with dh_t = Φ'_t (W_hh dh_{t-1} + …): the coefficient of
    # da_t collects step t's own term and what step t+1 passes back through W_hhᵀ.
    delta_rev = []
    carried = xp.zeros_like(dh_direct[0])
    for t in range(case.seq_len - 1, -1, -1):
        delta_t = s.dphi[t] * (dh_direct[t] + carried)
        carried = delta_t @ p["W_hh"]
        delta_rev.append(delta_t)
    delta = xp.stack(delta_rev[::-1], axis=0)

    D = rows(xp, delta)
    grads = {
        "W_hh": D.T @ rows(xp, s.h_prev),
        "W_xh": D.T @ rows(xp, s.x),
        "b_h": xp.sum(D, axis=0),
    }
    if dz is not None:
        DZ = rows(xp, dz)
        grads["W_hy"] = DZ.T @ rows(xp, s.traj.h)
        grads["b_y"] = xp.sum(DZ, axis=0)
    grads["h0"] = carried
    if "inputs" in p:
        grads["inputs"] = delta @ p["W_xh"]
    return Reference(
        method="differential", backend=backend.name, dtype=case.dtype, loss=s.traj.loss,
        grads=grads,
    )
