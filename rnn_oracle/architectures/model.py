"""The forward pass of every architecture, written once against an array namespace ``xp``.

It runs on NumPy, torch and JAX arrays, differentiates under torch autograd and JAX, and
accepts complex arrays (complex step), like :mod:`rnn_oracle.model`, whose head and loss
helpers it shares. It records what hand BPTT needs (:class:`BlockRun`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnn_oracle._loops import unstack
from rnn_oracle.architectures.cells import State, StepCache, step
from rnn_oracle.architectures.spec import Block, NetworkSpec
from rnn_oracle.model import log_softmax, loss_weight

Array = Any


@dataclass(frozen=True)
class CellStep:
    """A step of a cell without a hand BPTT: what it read (its backward differentiates
    the cell's step function there: :func:`rnn_oracle.architectures.bptt.step_vjp`)."""

    prev: State
    x: Array


@dataclass(frozen=True)
class BlockRun:
    """One block's pass: what it read (in its own time order) and each step's cache."""

    block: Block
    xs: Array  #: ``(T, [B,] n_in)``; reversed for a backward block
    hs: Array  #: ``(T, [B,] n_h)``, in the block's own time order
    #: :class:`~rnn_oracle.architectures.cells.StepCache` of a hand-BPTT cell, else
    #: :class:`CellStep` (Any: each sweep reads the one kind it is given)
    caches: tuple[Any, ...]
    final: State


@dataclass(frozen=True)
class NetworkTrajectory:
    loss: Array
    top: Array  #: ``(T_out, [B,] n_top)``: what the head reads
    o: Array | None  #: head pre-activations; None for head none
    yhat: Array | None  #: softmax probabilities (softmax_ce) or ``o`` (linear_mse)
    weight: float  #: factor of every per-sample, per-step loss in J
    runs: tuple[BlockRun, ...]


def block_params(arrays: Mapping[str, Array], block: Block) -> dict[str, Array]:
    """The block's parameters without their prefix (``W_xh``, ``W_hh``, biases)."""
    n = len(block.prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(block.prefix) and
            not k.endswith(("h0", "c0"))}


def input_projection(p: Mapping[str, Array], xs: Array) -> Array:
    """``x W_xh^T + b`` for every step at once (``b_h``, or ``b_xh`` for gated cells)."""
    bias = p["b_h"] if "b_h" in p else p["b_xh"]
    return xs @ p["W_xh"].T + bias


def run_block(
    spec: NetworkSpec, block: Block, p: Mapping[str, Array], xs: Array, init: State, xp: Any,
    stepwise: bool = False,
) -> BlockRun:
    """The block over its sequence: the hand cell's step (what its hand BPTT reads), or,
    for any other cell or with ``stepwise``, the cell's step function
    (:meth:`~rnn_oracle.Cell.run_step`)."""
    state = init
    hs: list[Array] = []
    caches: list[Any] = []
    if spec.hand_bptt and not stepwise:
        for u_t in unstack(xp, input_projection(p, xs)):
            state, cache = step(spec.cell, p, u_t, state, xp)
            hs.append(state[0])
            caches.append(cache)
    else:
        cell = spec.cell_def
        for x_t in unstack(xp, xs):
            prev, state = state, cell.run_step(p, state, x_t, xp)
            hs.append(state[0])
            caches.append(CellStep(prev, x_t))
    return BlockRun(block, xs, xp.stack(hs, axis=0), tuple(caches), state)


def one_step(
    spec: NetworkSpec, p: Mapping[str, Array], x_t: Array, state: State, xp: Any,
    stepwise: bool = False,
) -> tuple[State, StepCache | CellStep]:
    """One step of the block's cell on input ``x_t`` (``stepwise``: as :func:`run_block`)."""
    if spec.hand_bptt and not stepwise:
        return step(spec.cell, p, input_projection(p, x_t), state, xp)
    return spec.cell_def.run_step(p, state, x_t, xp), CellStep(state, x_t)


def initial_state(spec: NetworkSpec, arrays: Mapping[str, Array], block: Block) -> State:
    return tuple(arrays[f"{block.prefix}{s}0"] for s in spec.state_names)


def feedback_input(spec: NetworkSpec, h: Array, o: Array | None, xp: Any) -> Array:
    """What one_to_many reads at the next step (feedback ``output`` or ``hidden``)."""
    if spec.feedback == "hidden":
        return h
    assert o is not None
    return xp.exp(log_softmax(o, xp)) if spec.head == "softmax_ce" else o


def forward(
    spec: NetworkSpec,
    arrays: Mapping[str, Array],
    xp: Any,
    *,
    targets: Array | None = None,
    upstream: Array | None = None,
    out_len: int | None = None,
    stepwise: bool = False,
) -> NetworkTrajectory:
    """Run the network. ``targets`` are one-hot rows (softmax_ce) or dense rows
    (linear_mse); ``upstream`` holds ``∂J/∂top`` per output step (head none).
    ``out_len`` is needed for one_to_many only (default: from targets or upstream).
    ``stepwise``: a hand-BPTT cell runs its step function too (see :func:`run_block`)."""
    x = arrays["inputs"]
    batch = x.shape[1] if x.ndim == 3 else None
    runs: list[BlockRun] = []
    arch = spec.architecture
    o_steps: list[Array] | None = None
    if arch == "encoder_decoder":
        enc, dec = spec.blocks()
        run = run_block(spec, enc, block_params(arrays, enc), x,
                        initial_state(spec, arrays, enc), xp, stepwise)
        runs.append(run)
        run = run_block(spec, dec, block_params(arrays, dec), arrays["decoder_inputs"],
                        run.final, xp, stepwise)
        runs.append(run)
        top = run.hs
    elif arch == "one_to_many":
        (block,) = spec.blocks()
        p = block_params(arrays, block)
        if out_len is None:
            data = targets if targets is not None else upstream
            assert data is not None
            out_len = data.shape[0]
        state = initial_state(spec, arrays, block)
        x_t = x[0]
        xs, hs, caches, o_steps = [], [], [], []
        for _ in range(out_len):
            state, cache = one_step(spec, p, x_t, state, xp, stepwise)
            xs.append(x_t)
            hs.append(state[0])
            caches.append(cache)
            o_t = state[0] @ arrays["W_hy"].T + arrays["b_y"] if spec.head != "none" else None
            if o_t is not None:
                o_steps.append(o_t)
            x_t = xp.zeros_like(x[0]) if spec.feedback == "none" else feedback_input(
                spec, state[0], o_t, xp)
        top = xp.stack(hs, axis=0)
        runs.append(BlockRun(block, xp.stack(xs, axis=0), top, tuple(caches), state))
    else:
        seq = x
        for layer in range(spec.layers):
            outs = []
            for block in (b for b in spec.blocks() if b.layer == layer):
                backward = block.direction == "backward"
                xs = xp.flip(seq, axis=0) if backward else seq
                run = run_block(spec, block, block_params(arrays, block), xs,
                                initial_state(spec, arrays, block), xp, stepwise)
                runs.append(run)
                outs.append(xp.flip(run.hs, axis=0) if backward else run.hs)
            seq = outs[0] if len(outs) == 1 else xp.concat(outs, axis=-1)
        top = seq[-1:] if arch == "many_to_one" else seq

    weight = loss_weight(spec, top.shape[0], batch)
    if spec.head == "none":
        loss = weight * xp.sum(upstream * top)
        return NetworkTrajectory(loss, top, None, None, weight, tuple(runs))
    o = (xp.stack(o_steps, axis=0) if o_steps
         else top @ arrays["W_hy"].T + arrays["b_y"])
    if spec.head == "softmax_ce":
        log_p = log_softmax(o, xp)
        loss = -weight * xp.sum(targets * log_p)
        return NetworkTrajectory(loss, top, o, xp.exp(log_p), weight, tuple(runs))
    diff = o - targets
    loss = 0.5 * weight * xp.sum(diff * diff)
    return NetworkTrajectory(loss, top, o, o, weight, tuple(runs))

