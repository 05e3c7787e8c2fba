"""Hand-derived BPTT for every architecture and cell, written once against ``xp``.

The sweep mirrors the forward pass (:mod:`rnn_oracle.architectures.model`):

* the head: ``∂J/∂o_t = w (ŷ_t − y_t)`` (softmax_ce) or ``w (o_t − y_t)`` (linear_mse),
  ``∂J/∂W_hy = Σ_t ∂J/∂o_t top_tᵀ``, ``∂J/∂top_t = W_hyᵀ ∂J/∂o_t``; head none gives
  ``∂J/∂top_t = w g_t``;
* each block, from its last step down: the state gradient is what arrives from the layer
  above (or the head) plus what flows back from step ``t + 1``; the cell's backward step
  (:func:`~rnn_oracle.architectures.cells.step_backward`) turns it into gradients of the
  input and recurrent projections, whose outer products with the inputs and previous
  states are the weight gradients;
* a bidirectional layer splits ``∂J/∂[h_fwd; h_bwd]`` between its two blocks, and the
  layer below receives the *sum* of both blocks' input gradients;
* encoder–decoder: the decoder's initial-state gradient is the encoder's final-state
  gradient; one-to-many with feedback adds ``∂J/∂x_{t+1}`` to ``∂J/∂h_t`` (hidden) or,
  through the softmax Jacobian ``diag(ŷ) − ŷŷᵀ``, to ``∂J/∂o_t`` (output).

The same sweep runs any :class:`~rnn_oracle.Cell`: where a cell has no hand backward
step (or the forward ran ``stepwise``), each step's ``(∂J/∂params, ∂J/∂prev, ∂J/∂x)``
is :func:`~rnn_oracle.architectures.cell_derivatives.step_vjp` of the cell's step
function, on NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rnn_oracle.architectures.cell_derivatives import require_analytic, step_vjp
from rnn_oracle.architectures.cells import State, StepCache, step_backward
from rnn_oracle.architectures.model import (
    BlockRun,
    CellStep,
    NetworkTrajectory,
    block_params,
    forward,
)
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.derivations.common import rows
from rnn_oracle.errors import OracleError

Array = Any
#: One step's backward, as :func:`~rnn_oracle.architectures.cells.step_backward`:
#: ``(cell, p, cache, d_new, xp) -> (du, dhw, d_prev)``.
StepBackward = Callable[[str, Mapping[str, Array], StepCache, State, Any],
                        tuple[Array, Array, State]]


@dataclass(frozen=True)
class BlockDeltas:
    """What one block's backward sweep produced, step by step: ``∂J/∂u_t`` and
    ``∂J/∂hw_t`` ``(T, [B,] gates·n_h)`` in the block's own time order, with the run they
    belong to (its inputs and states pair with them in the weight gradients)."""

    run: BlockRun
    du: Array
    dhw: Array


def _weight_grads(
    spec: NetworkSpec, du: Array, dhw: Array, xs: Array, h_prev: Array, xp: Any
) -> dict[str, Array]:
    """Σ over steps and samples of the outer products, as one matmul each."""
    du2, dhw2 = rows(xp, du), rows(xp, dhw)
    grads = {"W_xh": du2.T @ rows(xp, xs), "W_hh": dhw2.T @ rows(xp, h_prev)}
    if spec.cell in ("gru", "lstm"):
        grads.update(b_xh=xp.sum(du2, axis=0), b_hh=xp.sum(dhw2, axis=0))
    else:
        grads["b_h"] = xp.sum(du2, axis=0)
    return grads


def block_backward(
    spec: NetworkSpec,
    run: BlockRun,
    p: Mapping[str, Array],
    d_hs: Array,
    d_final: State | None,
    xp: Any,
    recurrent: bool = True,
    backward_step: StepBackward = step_backward,
    record: MutableMapping[str, BlockDeltas] | None = None,
) -> tuple[dict[str, Array], State, Array]:
    """Backward through one block.

    Args:
        d_hs: ``∂J/∂h_t`` from outside the recurrence, in the block's own time order.
        d_final: gradient of the final state from outside (encoder → decoder), or None.
        recurrent: False drops the state gradient that flows from step ``t + 1`` into
            step ``t`` (``h``, and ``c`` for LSTM): each step sees only what arrives from
            outside the recurrence. Not a gradient of anything — the oracle's diagnosis
            uses it as the answer of an implementation that forgets the recurrent term.
        backward_step: the step's backward (the diagnosis passes one with a slip built in:
            :mod:`rnn_oracle.oracle.gate_variants`).
        record: if given, receives the block's :class:`BlockDeltas` under its prefix.

    Returns:
        the block's parameter gradients (unprefixed), the initial-state gradient and
        ``∂J/∂xs``.
    """
    if run.caches and isinstance(run.caches[0], CellStep):
        return _cell_block_backward(spec, run, p, d_hs, d_final, xp, recurrent)
    zero = xp.zeros_like(d_hs[0])
    d_state: State = d_final if d_final is not None else tuple(zero for _ in spec.state_names)
    du_steps: list[Array] = []
    dhw_steps: list[Array] = []
    for t in range(len(run.caches) - 1, -1, -1):
        if not recurrent:
            d_state = tuple(xp.zeros_like(d) for d in d_state)
        d_new = (d_state[0] + d_hs[t], *d_state[1:])
        du, dhw, d_state = backward_step(spec.cell, p, run.caches[t], d_new, xp)
        du_steps.append(du)
        dhw_steps.append(dhw)
    du_all = xp.stack(du_steps[::-1], axis=0)
    dhw_all = xp.stack(dhw_steps[::-1], axis=0)
    if record is not None:
        record[run.block.prefix] = BlockDeltas(run, du_all, dhw_all)
    h_prev = xp.stack([c.prev[0] for c in run.caches], axis=0)
    grads = _weight_grads(spec, du_all, dhw_all, run.xs, h_prev, xp)
    return grads, d_state, du_all @ p["W_xh"]


def _numpy_params(spec: NetworkSpec, run: BlockRun, p: Mapping[str, Array], xp: Any
                  ) -> dict[str, np.ndarray]:
    """The block's parameters of a cell without a hand BPTT, which is swept on NumPy."""
    if not all(isinstance(v, np.ndarray) for v in p.values()):
        raise OracleError(
            f"n/a: cell {spec.cell_name!r} has no hand BPTT; its step derivatives are taken "
            "on NumPy (complex step, or autodiff for analytic=False), not on "
            f"{getattr(xp, '__name__', xp)!r}"
        )
    params = {n: np.asarray(p[n]) for n in spec.block_param_shapes(run.block.n_in)}
    if spec.cell_def.analytic and run.caches:
        first = run.caches[0]
        require_analytic(spec.cell_def, params, tuple(first.prev), first.x)
    return params


def _cell_block_backward(
    spec: NetworkSpec,
    run: BlockRun,
    p: Mapping[str, Array],
    d_hs: Array,
    d_final: State | None,
    xp: Any,
    recurrent: bool,
) -> tuple[dict[str, Array], State, Array]:
    """:func:`block_backward` of a cell without a hand BPTT: each step's derivatives are
    :func:`~rnn_oracle.architectures.cell_derivatives.step_vjp` of the cell's step."""
    params = _numpy_params(spec, run, p, xp)
    cell = spec.cell_def
    zero = np.zeros_like(np.asarray(d_hs[0]))
    d_state: State = d_final if d_final is not None else tuple(zero for _ in spec.state_names)
    grads = {n: np.zeros_like(v) for n, v in params.items()}
    d_xs: list[Array] = []
    for t in range(len(run.caches) - 1, -1, -1):
        if not recurrent:
            d_state = tuple(np.zeros_like(d) for d in d_state)
        d_new = (d_state[0] + d_hs[t], *d_state[1:])
        cache = run.caches[t]
        dp, d_state, dx = step_vjp(cell, params, tuple(cache.prev), cache.x, d_new)
        for n, g in dp.items():
            grads[n] = grads[n] + g
        d_xs.append(dx)
    return grads, d_state, np.stack(d_xs[::-1], axis=0)


def head_output_grad(spec: NetworkSpec, traj: NetworkTrajectory, targets: Array | None) -> Array:
    """``∂J/∂o`` from the loss alone (softmax_ce and linear_mse heads)."""
    assert traj.yhat is not None
    return traj.weight * (traj.yhat - targets)


def _head_backward(
    spec: NetworkSpec,
    arrays: Mapping[str, Array],
    traj: NetworkTrajectory,
    do: Array | None,
    upstream: Array | None,
    xp: Any,
) -> tuple[dict[str, Array], Array]:
    """Head parameter gradients and ``∂J/∂top`` for a given ``∂J/∂o``."""
    if spec.head == "none":
        assert upstream is not None
        return {}, traj.weight * upstream
    do2 = rows(xp, do)
    grads = {"W_hy": do2.T @ rows(xp, traj.top), "b_y": xp.sum(do2, axis=0)}
    return grads, do @ arrays["W_hy"]


def _prefixed(prefix: str, grads: Mapping[str, Array]) -> dict[str, Array]:
    return {prefix + k: v for k, v in grads.items()}


def _initial_state_grads(spec: NetworkSpec, prefix: str, d_init: State) -> dict[str, Array]:
    return {f"{prefix}{s}0": d for s, d in zip(spec.state_names, d_init, strict=True)}


def gradients(
    spec: NetworkSpec,
    arrays: Mapping[str, Array],
    xp: Any,
    *,
    targets: Array | None = None,
    upstream: Array | None = None,
    out_len: int | None = None,
    recurrent: bool = True,
    stepwise: bool = False,
) -> tuple[Array, dict[str, Array]]:
    """``J`` and ``∂J/∂θ`` for every array in ``arrays`` (parameters, initial states,
    input sequences), by hand BPTT. Arguments as for
    :func:`~rnn_oracle.architectures.model.forward`; ``recurrent=False`` cuts the
    recurrence in every block (see :func:`block_backward`; not for one_to_many)."""
    traj = forward(spec, arrays, xp, targets=targets, upstream=upstream, out_len=out_len)
    return traj.loss, backward(spec, arrays, traj, xp, targets=targets, upstream=upstream,
                               recurrent=recurrent)


def backward(
    spec: NetworkSpec,
    arrays: Mapping[str, Array],
    traj: NetworkTrajectory,
    xp: Any,
    *,
    targets: Array | None = None,
    upstream: Array | None = None,
    recurrent: bool = True,
    backward_step: StepBackward = step_backward,
    record: MutableMapping[str, BlockDeltas] | None = None,
) -> dict[str, Array]:
    """The backward sweep of :func:`gradients` on a forward pass ``traj`` already run, so
    that several sweeps share one (``recurrent``, ``backward_step``, ``record``: see
    :func:`block_backward`; ``record`` stays empty for one_to_many)."""
    if not recurrent and spec.architecture == "one_to_many":
        raise ValueError("gradients: recurrent=False is not defined for one_to_many")
    if spec.architecture == "one_to_many":
        return _one_to_many(spec, arrays, traj, targets, upstream, xp, backward_step)
    sweep = partial(block_backward, recurrent=recurrent, backward_step=backward_step,
                    record=record)
    do = None if spec.head == "none" else head_output_grad(spec, traj, targets)
    grads, d_top = _head_backward(spec, arrays, traj, do, upstream, xp)
    runs = {run.block.prefix: run for run in traj.runs}

    if spec.architecture == "encoder_decoder":
        enc, dec = spec.blocks()
        g, d_init, d_dec_x = sweep(
            spec, runs[dec.prefix], block_params(arrays, dec), d_top, None, xp)
        grads.update(_prefixed(dec.prefix, g), decoder_inputs=d_dec_x)
        enc_run = runs[enc.prefix]
        g, d_init, d_x = sweep(
            spec, enc_run, block_params(arrays, enc), xp.zeros_like(enc_run.hs), d_init, xp)
        grads.update(_prefixed(enc.prefix, g))
        grads.update(_initial_state_grads(spec, enc.prefix, d_init))
        grads["inputs"] = d_x
        return grads

    seq_len = arrays["inputs"].shape[0]
    if spec.architecture == "many_to_one":
        # Only the last step reaches the head.
        pad = xp.zeros((seq_len - 1, *d_top.shape[1:]), dtype=d_top.dtype)
        d_seq = xp.concat([pad, d_top], axis=0)
    else:
        d_seq = d_top
    for layer in range(spec.layers - 1, -1, -1):
        blocks = [b for b in spec.blocks() if b.layer == layer]
        d_below = None
        for k, block in enumerate(blocks):
            d_out = d_seq[..., k * spec.n_h : (k + 1) * spec.n_h]
            backward = block.direction == "backward"
            if backward:
                d_out = xp.flip(d_out, axis=0)
            g, d_init, d_x = sweep(
                spec, runs[block.prefix], block_params(arrays, block), d_out, None, xp)
            if backward:
                d_x = xp.flip(d_x, axis=0)
            grads.update(_prefixed(block.prefix, g))
            grads.update(_initial_state_grads(spec, block.prefix, d_init))
            d_below = d_x if d_below is None else d_below + d_x
        d_seq = d_below
    grads["inputs"] = d_seq
    return grads


def _one_to_many(
    spec: NetworkSpec,
    arrays: Mapping[str, Array],
    traj: NetworkTrajectory,
    targets: Array | None,
    upstream: Array | None,
    xp: Any,
    backward_step: StepBackward = step_backward,
) -> dict[str, Array]:
    """One block whose input at ``t + 1`` may be its own output at ``t``: the head's
    backward is interleaved with the recurrence."""
    (run,) = traj.runs
    block = run.block
    p = block_params(arrays, block)
    out_len = traj.top.shape[0]
    do_loss: Array = None if spec.head == "none" else head_output_grad(spec, traj, targets)
    d_state: State = tuple(xp.zeros_like(traj.top[0]) for _ in spec.state_names)
    d_x_next: Array = None
    du_steps, dhw_steps, do_steps = [], [], []
    stepwise = bool(run.caches) and isinstance(run.caches[0], CellStep)
    cell_params = _numpy_params(spec, run, p, xp) if stepwise else None
    cell_grads: dict[str, Array] = {}
    for t in range(out_len - 1, -1, -1):
        if spec.head == "none":
            assert upstream is not None
            d_h = traj.weight * upstream[t]
        else:
            do_t = do_loss[t]
            if d_x_next is not None and spec.feedback == "output":
                if spec.head == "softmax_ce":
                    assert traj.yhat is not None
                    y = traj.yhat[t]
                    do_t = do_t + y * (d_x_next - xp.sum(y * d_x_next, axis=-1, keepdims=True))
                else:
                    do_t = do_t + d_x_next
            do_steps.append(do_t)
            d_h = do_t @ arrays["W_hy"]
        if d_x_next is not None and spec.feedback == "hidden":
            d_h = d_h + d_x_next
        d_new = (d_state[0] + d_h, *d_state[1:])
        if cell_params is not None:
            cache = run.caches[t]
            dp, d_state, d_x_next = step_vjp(spec.cell_def, cell_params, tuple(cache.prev),
                                             cache.x, d_new)
            cell_grads = {n: cell_grads.get(n, 0.0) + g for n, g in dp.items()}
            continue
        du, dhw, d_state = backward_step(spec.cell, p, run.caches[t], d_new, xp)
        du_steps.append(du)
        dhw_steps.append(dhw)
        d_x_next = du @ p["W_xh"]
    if cell_params is not None:
        grads = _prefixed(block.prefix, cell_grads)
    else:
        du_all = xp.stack(du_steps[::-1], axis=0)
        dhw_all = xp.stack(dhw_steps[::-1], axis=0)
        h_prev = xp.stack([c.prev[0] for c in run.caches], axis=0)
        grads = _prefixed(block.prefix,
                          _weight_grads(spec, du_all, dhw_all, run.xs, h_prev, xp))
    grads.update(_initial_state_grads(spec, block.prefix, d_state))
    if spec.head != "none":
        do_all = xp.stack(do_steps[::-1], axis=0)
        head, _ = _head_backward(spec, arrays, traj, do_all, upstream, xp)
        grads.update(head)
    grads["inputs"] = d_x_next[None, ...]
    return grads
