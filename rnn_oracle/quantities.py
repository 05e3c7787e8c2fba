"""Named quantities beyond the full gradient, each in a layout chosen through
:mod:`conventions`.

Every function returns NumPy arrays. A derivative is first built as the index tensor
``J[out..., in...]`` and then handed to :func:`conventions.to_layout`, so ``layout`` takes
any of ``conventions.LAYOUTS`` (``"mixed"`` — the shape of the parameter for a scalar's
gradient — is the default; ``"numerator"`` gives the transpose for a matrix parameter; a
third-order tensor needs ``flatten="vec"`` or ``"vecr"`` for a matrix layout).

For a batched case, per-sample quantities (Jacobians of one sample's state) take
``sample``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends import get_backend
from conventions import Flatten, to_layout
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle._reference import reference
from rnn_oracle.case import Case
from rnn_oracle.derivations import common, jacobian_chain, rtrl
from rnn_oracle.errors import OracleError


def _step(case: Case, t: int, name: str = "t") -> int:
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < case.seq_len:
        raise OracleError(
            f"{name}: expected a step index in [0, {case.seq_len}) (0-based), got {t!r}"
        )
    return t


def _param(case: Case, param: str) -> str:
    if param not in case.spec.param_names:
        raise OracleError(
            f"param: expected one of {list(case.spec.param_names)}, got {param!r}"
        )
    return param


def _sample(case: Case, sample: int | None) -> int:
    if case.batch is None:
        if sample not in (None, 0):
            raise OracleError(f"sample: the case is unbatched, got sample={sample!r}")
        return 0
    if sample is None or not 0 <= sample < case.batch:
        raise OracleError(
            f"sample: the case has a batch of {case.batch}; give sample in [0, {case.batch})"
        )
    return sample


def _scalar_by(value: Any, layout: str, flatten: Flatten | None) -> np.ndarray:
    arr = np.asarray(value)
    return np.asarray(to_layout(arr, layout, out_shape=(), in_shape=arr.shape, flatten=flatten))


def per_step_contribution(
    case: Case, param: str, t: int, *, layout: str = "mixed", flatten: Flatten | None = None
) -> np.ndarray:
    """Seed 003's ``∇^{(t)}_θ J``: the contribution of step ``t``'s use of ``param``."""
    ref = reference(case, method="bptt")
    assert ref.per_step is not None
    value = ref.per_step[_param(case, param)][_step(case, t)]
    return _scalar_by(value, layout, flatten)


def local_partial(
    case: Case, param: str, t: int, *, layout: str = "mixed", flatten: Flatten | None = None
) -> np.ndarray:
    """Seed 000's ``∂J^{(t)}/∂θ |_t``: step ``t``'s term of ``J`` through step ``t`` alone."""
    ref = reference(case, method="bptt")
    assert ref.local is not None
    value = ref.local[_param(case, param)][_step(case, t)]
    return _scalar_by(value, layout, flatten)


def hidden_gradient(
    case: Case, t: int, *, sample: int | None = None, layout: str = "mixed"
) -> np.ndarray:
    """``∇_{h(t)} J`` (DL book eq. 10.21) for one sample."""
    ref = reference(case, method="bptt")
    g = np.asarray(ref.hidden_grads)[_step(case, t)]
    if case.batch is not None:
        g = g[_sample(case, sample)]
    return _scalar_by(g, layout, None)


def hidden_gradient_norms(case: Case) -> np.ndarray:
    """``‖∇_{h(t)} J‖`` for ``t = 1..T`` (over the batch, if any): the curve that shows
    vanishing and exploding gradients (DL book §10.7)."""
    g = np.asarray(reference(case, method="bptt").hidden_grads)
    return np.sqrt(np.sum(g.reshape(case.seq_len, -1) ** 2, axis=1))


def step_jacobian(
    case: Case, t: int, *, sample: int | None = None, layout: str = "numerator"
) -> np.ndarray:
    """``∂h_{t+1}/∂h_t = diag(phi'(a_{t+1})) W_hh`` (seed 002), for ``t = 0..T-1``
    (``h_0`` is the initial state, so ``t = 0`` is ``∂h_1/∂h_0``)."""
    _step(case, t)
    s = common.start(case, get_backend("numpy"))
    jac = np.asarray(jacobian_chain.step_jacobians(np, s.dphi, case.params["W_hh"]))[t]
    if case.batch is not None:
        jac = jac[_sample(case, sample)]
    n_h = case.spec.n_h
    return np.asarray(to_layout(jac, layout, out_shape=(n_h,), in_shape=(n_h,)))


def state_jacobian(
    case: Case,
    t: int,
    param: str = "W_hh",
    *,
    sample: int | None = None,
    layout: str = "tensor",
    flatten: Flatten | None = None,
) -> np.ndarray:
    """The third-order ``∂h_{t+1}/∂θ`` through every earlier step (RTRL's sensitivity), for
    ``θ`` one of ``W_hh``, ``W_xh``, ``b_h``. Index tensor shape ``(n_h, *θ.shape)``."""
    _step(case, t)
    if param not in ("W_hh", "W_xh", "b_h"):
        raise OracleError(f"param: hidden states depend on W_hh, W_xh, b_h only, got {param!r}")
    s = common.start(case, get_backend("numpy"))
    sens = None
    for k, step in enumerate(rtrl.sensitivities(s, (param,))):
        if k == t:
            sens = step[param]
            break
    assert sens is not None
    shape = case.params[param].shape
    tensor = np.asarray(sens)[_sample(case, sample)].reshape((case.spec.n_h, *shape))
    return np.asarray(
        to_layout(tensor, layout, out_shape=(case.spec.n_h,), in_shape=shape, flatten=flatten)
    )


def last_step_case(spec: Any, seq_len: int, *, seed: int = 0, scale: float = 1.0) -> Case:
    """A case of ``spec``'s recurrence whose loss sits at the last step only
    (head ``none``, upstream zero before ``T``): its ``∇_{h(t)} J`` is pure backflow
    ``(∂h_T/∂h_t)ᵀ g_T``, the quantity whose norm vanishes or explodes with ``t``."""
    from rnn_oracle.case import make_case

    recurrent = spec.replace(head="none")
    base = make_case(recurrent, seq_len, seed=seed, scale=scale)
    assert base.upstream is not None
    upstream = np.zeros_like(base.upstream)
    upstream[-1] = base.upstream[-1]
    return Case(recurrent, base.params, base.inputs, base.h0, upstream=upstream)


def plot_gradient_norms(
    spec: Any, seq_len: int = 50, scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0), *,
    seed: int = 0, ax: Any = None,
) -> Any:
    """Plot ``‖∇_{h(t)} J_T‖`` against ``t`` for several weight scales (log scale), the picture
    of DL book §10.7: with the loss at the last step only (:func:`last_step_case`), small
    recurrent weights make the gradient of early states vanish, large ones make it
    explode (identity cell) or, for saturating cells, vanish too. Needs matplotlib
    (``pip install 'rnn-oracle[plot]'``). Returns the axes."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter
    except ImportError as exc:
        raise OracleError(
            "plot_gradient_norms needs matplotlib: pip install 'rnn-oracle[plot]'"
        ) from exc
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    steps = np.arange(1, seq_len + 1)
    for scale in scales:
        norms = hidden_gradient_norms(last_step_case(spec, seq_len, seed=seed, scale=scale))
        ax.semilogy(steps, np.maximum(norms, 1e-300), label=f"weight scale {scale:g}")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$\|\nabla_{h(t)} J\|$")
    ax.set_title(f"{spec.cell} cell, n_h = {spec.n_h}, T = {seq_len}")
    # Steps are whole numbers; at most six labelled decades, however many the norms span.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(title="loss at step T only", fontsize=8, title_fontsize=8)
    return ax
