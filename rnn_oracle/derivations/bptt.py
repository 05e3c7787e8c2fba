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
from collections.abc import Callable
from typing import Any

from backends import Backend
from rnn_oracle._loops import scan
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import LazyMapping, OnBackend, Reference, to_backend
from rnn_oracle.derivations.common import Start, per_step_contributions, rows, start_on
from rnn_oracle.model import stack_matmul
from rnn_oracle.spec import RNNSpec

Array = Any


def _backward(s: Start) -> tuple[Array, Array]:
    """``∂J/∂a_t`` and ``∇_{h(t)} J`` for every step (``∂J/∂h_0`` is ``δ_1 W_hh``)."""
    xp, W_hh = s.xp, s.on.arrays["W_hh"]

    def step(dh_next: Array, local: tuple[Array, Array]) -> tuple[Array, tuple[Array, Array]]:
        dh_out_t, dphi_t = local
        dh_t = dh_out_t + dh_next
        da_t = dh_t * dphi_t
        return da_t @ W_hh, (da_t, dh_t)

    # No in-place writes, so JAX's immutable arrays work unchanged.
    _, (da, dh) = scan(xp, step, xp.zeros_like(s.dh_out[0]), (s.dh_out, s.dphi), reverse=True)
    return da, dh


def _sweep(spec: RNNSpec, backend: Backend) -> Callable[..., dict[str, Any]]:
    """Hand BPTT of ``spec`` as a function of a case's arrays on ``backend``: the program
    that :func:`~rnn_oracle.derivations._compiled.compiled` traces (JAX). It returns the
    loss, the gradients, the hidden-state gradients and what the lazy extras read."""

    def run(
        arrays: dict[str, Array], index_inputs: Array, targets: Array, upstream: Array
    ) -> dict[str, Any]:
        s = start_on(spec, OnBackend(backend, arrays, index_inputs, targets, upstream))
        xp, p = s.xp, arrays
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
            grads["inputs"] = stack_matmul(xp, da, p["W_xh"])
        return {
            "loss": s.traj.loss, "grads": grads, "hidden_grads": hidden_grads, "da": da,
            "h_prev": s.h_prev, "x": s.x, "h": s.traj.h, "d_o": s.d_o,
            "dh_out": s.dh_out, "dphi": s.dphi,
        }

    return run


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    """Loss, gradients, per-step contributions, hidden-state gradients and local partials."""
    on = to_backend(case, backend)
    run = _sweep(case.spec, backend)
    out = run(on.arrays, on.index_inputs, on.targets, on.upstream)
    xp = backend.xp

    def per_step(delta: Array) -> dict[str, Array]:
        return per_step_contributions(xp, delta, out["h_prev"], out["x"], out["d_o"], out["h"])

    def scope() -> contextlib.AbstractContextManager[None]:
        return backend.precision(case.dtype)

    return Reference(
        method="bptt",
        backend=backend.name,
        dtype=case.dtype,
        loss=out["loss"],
        # A compiled program returns its dicts in sorted order; keep the canonical one.
        grads={name: out["grads"][name] for name in case.input_names},
        per_step=LazyMapping(lambda: per_step(out["da"]), scope),
        hidden_grads=out["hidden_grads"],
        # Step t's own loss through step t alone: the output path only, no recurrence.
        local=LazyMapping(lambda: per_step(out["dh_out"] * out["dphi"]), scope),
    )
