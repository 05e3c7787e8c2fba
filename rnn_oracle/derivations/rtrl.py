"""Real-time recurrent learning (Williams & Zipser): forward sensitivities.

Instead of carrying ``∂J/∂h_t`` backwards, carry ``S_t = dh_t/dθ`` forwards:

    S_t = diag(phi'(a_t)) (W_hh S_{t-1} + ∂a_t/∂θ),      S_0 = 0   (S_0 = I for θ = h0),

and collect ``∂J/∂θ = Σ_t (∂J/∂h_t |_{direct})ᵀ S_t``. For ``θ = W_hh`` the direct term is
``∂a_t/∂vecr(W_hh) = I ⊗ h_{t-1}ᵀ`` (row-major flattening), and ``S_t`` is the third-order
``∂h_t/∂W_hh`` flattened to ``n_h × n_h²``.

Cost: every step multiplies ``W_hh`` into ``S``: ``O(n_h · P)`` memory and ``O(n_h² · P)``
work per sample and step, with ``P`` parameters — ``O(n_h³)`` memory and ``O(n_h⁴)`` work for
``W_hh`` alone. :data:`MEMORY_BUDGET_BYTES` bounds the sensitivities; past it the method
refuses with :class:`~rnn_oracle.OracleError` rather than thrashing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.derivations.common import Start, batch_sum, outer_sum, start
from rnn_oracle.errors import OracleError
from rnn_oracle.model import device_of
from rnn_oracle.spec import RNNSpec

Array = Any

#: Bytes the forward sensitivities may take (all blocks, one step, with temporaries).
#: Override with the environment variable ``RNN_ORACLE_RTRL_BUDGET_MB``.
MEMORY_BUDGET_BYTES = int(float(os.environ.get("RNN_ORACLE_RTRL_BUDGET_MB", "1024")) * 2**20)

#: Live copies of the sensitivities during one step: S_{t-1}, W_hh S_{t-1}, ∂a_t/∂θ, S_t.
_LIVE_COPIES = 4


def block_sizes(case: Case) -> dict[str, int]:
    """Flattened size ``P`` of each array whose sensitivity RTRL carries."""
    return _sizes(case.spec, case.seq_len, inputs="inputs" in case.input_names)


def _sizes(spec: RNNSpec, seq_len: int, *, inputs: bool) -> dict[str, int]:
    sizes = {"W_hh": spec.n_h * spec.n_h, "W_xh": spec.n_h * spec.n_x, "b_h": spec.n_h,
             "h0": spec.n_h}
    if inputs:
        sizes["inputs"] = seq_len * spec.n_x
    return sizes


def memory_estimate(case: Case) -> int:
    """Bytes the sensitivities of ``case`` need at once."""
    itemsize = 8 if case.dtype == "float64" else 4
    samples = case.batch or 1
    return _LIVE_COPIES * samples * case.spec.n_h * sum(block_sizes(case).values()) * itemsize


def _direct(s: Start, name: str, t: int) -> Array:
    """``∂a_t/∂θ`` for block ``name`` as ``(B', n_h, P)``."""
    xp, p = s.xp, s.on.arrays
    n_h = s.spec.n_h
    h_prev = xp.reshape(s.h_prev[t], (-1, n_h))
    samples = h_prev.shape[0]
    eye = xp.eye(n_h, dtype=h_prev.dtype, device=device_of(h_prev))
    if name in ("W_hh", "W_xh"):
        u = h_prev if name == "W_hh" else xp.reshape(s.x[t], (samples, -1))
        # (I ⊗ uᵀ)[k, i·n + j] = δ_ki u_j
        g = eye[None, :, :, None] * u[:, None, None, :]
        return xp.reshape(g, (samples, n_h, -1))
    if name == "b_h":
        return xp.broadcast_to(eye, (samples, n_h, n_h))
    if name == "h0":
        return xp.zeros((samples, n_h, n_h), dtype=h_prev.dtype, device=device_of(h_prev))
    # inputs: only x_t enters a_t, through W_xh.
    n_x = s.spec.n_x
    before = xp.zeros((samples, n_h, t * n_x), dtype=h_prev.dtype, device=device_of(h_prev))
    after = xp.zeros(
        (samples, n_h, (s.seq_len - t - 1) * n_x), dtype=h_prev.dtype, device=device_of(h_prev)
    )
    block = xp.broadcast_to(p["W_xh"], (samples, n_h, n_x))
    return xp.concat([before, block, after], axis=-1)


def sensitivities(s: Start, names: tuple[str, ...]) -> Iterator[dict[str, Array]]:
    """Yield ``{name: S_t}`` for ``t = 1..T``, each ``S_t = dh_t/dθ`` as ``(B', n_h, P)``."""
    xp, W_hh = s.xp, s.on.arrays["W_hh"]
    n_h = s.spec.n_h
    samples = s.batch or 1
    h0 = s.on.arrays["h0"]
    eye = xp.eye(n_h, dtype=h0.dtype, device=device_of(h0))
    sizes = _sizes(s.spec, s.seq_len, inputs="inputs" in s.on.arrays)
    sens = {
        n: (
            xp.broadcast_to(eye, (samples, n_h, n_h))
            if n == "h0"
            else xp.zeros((samples, n_h, sizes[n]), dtype=h0.dtype,
                          device=device_of(h0))
        )
        for n in names
    }
    for t in range(s.seq_len):
        dphi = xp.reshape(s.dphi[t], (samples, n_h))[:, :, None]
        sens = {n: dphi * (W_hh @ sens[n] + _direct(s, n, t)) for n in names}
        yield sens


def check_budget(case: Case) -> None:
    """Refuse a case whose forward sensitivities exceed :data:`MEMORY_BUDGET_BYTES`.

    Checked on every call, outside the compiled part: a cached program runs no Python,
    and the budget is module state (a test or a user may lower it)."""
    needed = memory_estimate(case)
    if needed > MEMORY_BUDGET_BYTES:
        raise OracleError(
            f"rtrl: the forward sensitivities of this case need about {needed / 2**20:.0f} MiB "
            f"(O(B n_h P): B={case.batch or 1}, n_h={case.spec.n_h}, "
            f"P={sum(block_sizes(case).values())} carried entries), over the budget of "
            f"{MEMORY_BUDGET_BYTES / 2**20:.0f} MiB; use a smaller case or raise "
            "RNN_ORACLE_RTRL_BUDGET_MB"
        )


@compiled(to_backend, check=check_budget)
def gradients(case: Case, backend: Backend) -> Reference:
    s = start(case, backend)
    xp, spec = s.xp, case.spec
    names = tuple(block_sizes(case))
    samples = case.batch or 1
    totals: dict[str, Array] = {}
    for t, sens in enumerate(sensitivities(s, names)):
        g = xp.reshape(s.dh_out[t], (samples, spec.n_h))[:, None, :]  # (B', 1, n_h)
        for n in names:
            contribution = (g @ sens[n])[:, 0, :]  # (B', P)
            totals[n] = contribution if n not in totals else totals[n] + contribution
    shapes = {**spec.param_shapes(), "h0": s.on.arrays["h0"].shape}
    grads: dict[str, Array] = {}
    for n in ("W_hh", "W_xh", "b_h"):
        grads[n] = xp.reshape(xp.sum(totals[n], axis=0), shapes[n])
    if s.d_o is not None:
        grads["W_hy"] = xp.sum(outer_sum(xp, s.d_o, s.traj.h), axis=0)
        grads["b_y"] = xp.sum(batch_sum(xp, s.d_o), axis=0)
    grads["h0"] = xp.reshape(totals["h0"], shapes["h0"])
    if "inputs" in totals:
        # (B', T·n_x) per sample -> canonical (T, [B,] n_x)
        per_sample = xp.reshape(totals["inputs"], (samples, case.seq_len, spec.n_x))
        x_grad = xp.permute_dims(per_sample, (1, 0, 2))
        grads["inputs"] = x_grad if case.batch is not None else x_grad[:, 0, :]
    grads = {n: grads[n] for n in case.input_names}
    return Reference(
        method="rtrl", backend=backend.name, dtype=case.dtype, loss=s.traj.loss, grads=grads
    )

