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
"""

from __future__ import annotations

from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.model import activation_derivative, forward

Array = Any


def _outer_sum(xp: Any, left: Array, right: Array) -> Array:
    """``Σ_b left[t, b]ᵀ right[t, b]`` for every ``t``: ``(T, [B,] m), (T, [B,] n) -> (T, m, n)``.

    An unbatched stack is treated as a batch of one, so one batched matmul serves both.
    """
    seq_len = left.shape[0]
    left3 = xp.reshape(left, (seq_len, -1, left.shape[-1]))
    right3 = xp.reshape(right, (seq_len, -1, right.shape[-1]))
    return left3.mT @ right3


def _batch_sum(xp: Any, stack: Array) -> Array:
    """Sum a ``(T, [B,] n)`` stack over the batch axis, if any: ``(T, n)``."""
    return xp.sum(stack, axis=1) if stack.ndim == 3 else stack


def gradients(case: Case, backend: Backend) -> Reference:
    """Loss, gradients, per-step contributions, hidden-state gradients and local partials."""
    on = to_backend(case, backend)
    xp = backend.xp
    spec = case.spec
    p = on.arrays
    x = on.x
    h0 = p["h0"]
    traj = forward(spec, p, x, h0, xp, targets=on.targets, upstream=on.upstream)
    w = traj.weight

    # ∂J/∂h_t through the output at step t only, for all t at once.
    if spec.head == "none":
        d_o = None
        dh_out = w * on.upstream
    else:
        target = on.targets
        d_o = w * (traj.yhat - target)
        dh_out = d_o @ p["W_hy"]
    dphi = activation_derivative(spec.cell, traj.a, traj.h, xp)

    # The recursion runs backwards; lists are reversed once at the end (no in-place
    # writes, so JAX's immutable arrays work unchanged).
    W_hh = p["W_hh"]
    dh_next = xp.zeros_like(h0)
    da_rev, dh_rev = [], []
    for t in range(case.seq_len - 1, -1, -1):
        dh_t = dh_out[t] + dh_next
        da_t = dh_t * dphi[t]
        dh_next = da_t @ W_hh
        dh_rev.append(dh_t)
        da_rev.append(da_t)
    da = xp.stack(da_rev[::-1], axis=0)
    hidden_grads = xp.stack(dh_rev[::-1], axis=0)
    h_prev = xp.concat([h0[None, ...], traj.h[:-1]], axis=0)

    per_step = {
        "W_hh": _outer_sum(xp, da, h_prev),
        "W_xh": _outer_sum(xp, da, x),
        "b_h": _batch_sum(xp, da),
    }
    da_local = dh_out * dphi  # step t's own loss, through step t alone
    local = {
        "W_hh": _outer_sum(xp, da_local, h_prev),
        "W_xh": _outer_sum(xp, da_local, x),
        "b_h": _batch_sum(xp, da_local),
    }
    if d_o is not None:
        per_step["W_hy"] = _outer_sum(xp, d_o, traj.h)
        per_step["b_y"] = _batch_sum(xp, d_o)
        local["W_hy"] = per_step["W_hy"]
        local["b_y"] = per_step["b_y"]

    grads = {name: xp.sum(per_step[name], axis=0) for name in spec.param_names}
    grads["h0"] = dh_next
    if "inputs" in p:
        grads["inputs"] = da @ p["W_xh"]
    return Reference(
        method="bptt",
        backend=backend.name,
        dtype=case.dtype,
        loss=traj.loss,
        grads=grads,
        per_step=per_step,
        hidden_grads=hidden_grads,
        local=local,
    )
