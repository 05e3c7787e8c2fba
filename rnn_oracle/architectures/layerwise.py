"""The single-layer derivation variants applied to a network, block by block.

For a vanilla cell (``tanh``, ``sigmoid``, ``relu``, ``identity``) every architecture whose
blocks read *fixed* input sequences is a composition of single-layer problems in layer
mode. Block ``k`` runs ``h_t = phi(W_hh h_{t-1} + W_xh x_t + b_h)`` over its own input
sequence ``x`` from its own initial state; once ``∂J/∂h_t`` arriving from outside the
block is known for every step (``g_t``), the block's gradients are those of the
single-layer case

    ``RNNSpec(cell, n_x=n_in, n_h, head="none")``, sum reductions, standard sign,
    ``upstream = g``, so that ``J_block = Σ_t Σ_b ⟨g_t, h_t⟩`` and ``∂J_block/∂θ = ∂J/∂θ``

for the block's ``W_hh, W_xh, b_h``, its ``h0`` and its ``inputs`` — which any single-layer
variant (:data:`VARIANTS`) computes. The network is swept from the head down:

* the head: ``∂J/∂o_t = w (ŷ_t − y_t)`` (softmax_ce) or ``w (o_t − y_t)`` (linear_mse) gives
  ``∂J/∂W_hy = Σ ∂J/∂o_t top_tᵀ``, ``∂J/∂b_y = Σ ∂J/∂o_t`` and ``∂J/∂top_t = W_hyᵀ ∂J/∂o_t``;
  head none gives ``∂J/∂top_t = w g_t``;
* a layer's upstream is ``∂J/∂top`` (top layer) or the sum of the input gradients of the
  blocks of the layer above; a bidirectional layer splits it into its forward half and
  its backward half, and the backward block runs on the time-reversed sequence (its
  upstream and its input gradient are flipped in time);
* many_to_one: the upstream is zero but at the last step;
* encoder_decoder: the decoder starts from the encoder's final state, so the decoder's
  ``h0`` gradient is the encoder's upstream at its last step (zero elsewhere);
* one_to_many without feedback: the block reads ``x`` then zeros; only row 0 of its
  input gradient is the gradient of ``inputs``.

Not defined (:class:`~rnn_oracle.OracleError` whose message starts with ``"n/a: "``):
GRU and LSTM cells (the variants are derivations of the vanilla recurrence), one_to_many
with feedback ``output`` or ``hidden`` (the block's input at ``t + 1`` is its own output
at ``t``, so it is not a layer-mode problem on a fixed input sequence), and ``rtrl`` when
a block's forward sensitivities exceed :data:`rnn_oracle.derivations.rtrl.MEMORY_BUDGET_BYTES`.

The forward pass is :func:`rnn_oracle.architectures.model.forward` on the backend; the
per-block problems are :class:`~rnn_oracle.Case` values (NumPy arrays in the case's dtype)
solved by :func:`rnn_oracle.reference` on the same backend; the glue between
blocks (split, flip, sum) is done in NumPy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

from backends import Backend, get_backend
from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.model import block_params, forward
from rnn_oracle.architectures.spec import Block
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import Part, run_compiled
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import OracleError
from rnn_oracle.spec import CELLS as VANILLA_CELLS
from rnn_oracle.spec import RNNSpec

Array = Any

#: The single-layer variants that apply block by block (:data:`rnn_oracle.derivations.METHODS`).
VARIANTS: tuple[str, ...] = ("bptt", "jacobian_chain", "kronecker", "differential", "einsum",
                             "rtrl")

#: Network method name (:data:`rnn_oracle.architectures.NETWORK_METHODS`) of each variant
#: applied block by block: the variant's own name, except single-layer ``bptt``, which is
#: ``layerwise`` (``bptt`` names the network's own hand BPTT).
METHOD_NAMES: dict[str, str] = {v: ("layerwise" if v == "bptt" else v) for v in VARIANTS}


#: Inside :func:`blocks_together`: the variants each block is solved by at once.
_BLOCK_VARIANTS: ContextVar[tuple[str, ...]] = ContextVar("_BLOCK_VARIANTS", default=())


@contextlib.contextmanager
def blocks_together(variants: Sequence[str]) -> Iterator[None]:
    """Within the block, each block case is solved by all of ``variants`` (those of them
    that compile) as one program, compiled once per block structure
    (:func:`rnn_oracle._reference.computed_together`), and each variant's sweep takes its
    own answer: for a caller that runs every variant, one compile instead of one per
    variant. Each variant's sweep is still its own: its blocks' upstreams come from its
    own answers."""
    token = _BLOCK_VARIANTS.set(tuple(v for v in variants if v in VARIANTS))
    try:
        yield
    finally:
        _BLOCK_VARIANTS.reset(token)


def not_applicable(case: NetworkCase, variant: str) -> str | None:
    """Why ``variant`` cannot be applied block by block to ``case`` (``"n/a: …"``), or
    None when it can. The rtrl memory budget is checked per block, when it runs."""
    spec = case.spec
    if spec.cell not in VANILLA_CELLS:
        return (
            f"n/a: {METHOD_NAMES.get(variant, variant)} applies the single-layer variants, "
            f"which are derived for vanilla cells ({', '.join(VANILLA_CELLS)}); cell "
            f"{spec.cell!r} is gated"
        )
    if spec.architecture == "one_to_many" and spec.feedback != "none":
        return (
            f"n/a: {METHOD_NAMES.get(variant, variant)}: one_to_many with feedback "
            f"{spec.feedback!r} feeds the block's step-t output back as its step-(t+1) "
            "input, so it is not a single-layer problem on a fixed input sequence"
        )
    return None


def gradients(case: NetworkCase, backend: str | Backend, variant: str) -> Reference:
    """Loss and gradients of ``case`` with every block's gradient by ``variant``.

    Raises:
        OracleError: ``variant`` is not one of :data:`VARIANTS`; or, with a message
            starting ``"n/a: "``, the variant is not defined for this case.
    """
    if not isinstance(case, NetworkCase):
        raise OracleError(
            f"layerwise: case must be a NetworkCase, got {type(case).__name__}"
        )
    if variant not in VARIANTS:
        raise OracleError(
            f"layerwise: unknown variant {variant!r}; variants that apply block by block "
            f"are {', '.join(VARIANTS)}"
        )
    reason = not_applicable(case, variant)
    if reason is not None:
        raise OracleError(reason)
    be = get_backend(backend) if isinstance(backend, str) else backend
    with be.precision(case.dtype):  # JAX float64 needs x64 for the forward pass too
        return _compose(case, be, variant)


def _network_pass(case: NetworkCase, be: Backend) -> tuple[dict[str, Any], float]:
    """What the sweep reads of the network on the backend: the loss, each block's input
    sequence and initial state and, with a head, the head's gradients and ``∂J/∂top``;
    and the weight of every per-sample step loss."""
    from rnn_oracle.architectures.reference import on_backend

    spec = case.spec
    on = on_backend(case, be)
    xp = be.xp
    traj = forward(spec, on.arrays, xp, targets=on.targets, upstream=on.upstream,
                   out_len=on.out_len)
    out: dict[str, Any] = {
        "loss": traj.loss,
        "xs": {run.block.prefix: run.xs for run in traj.runs},
        "h0": {run.block.prefix: run.caches[0].prev[0] for run in traj.runs},
    }
    if spec.head != "none":
        assert traj.yhat is not None
        do = traj.weight * (traj.yhat - on.targets)  # both heads: ŷ is o for linear_mse
        do_rows = xp.reshape(do, (-1, spec.n_y))
        top_rows = xp.reshape(traj.top, (-1, spec.n_top))
        out["W_hy"] = do_rows.T @ top_rows
        out["b_y"] = xp.sum(do_rows, axis=0)
        out["d_top"] = do @ on.arrays["W_hy"]
    return out, traj.weight


def network_pass() -> Part:
    """The network pass as the compiled part it runs as (one program per network structure
    where the backend compiles: the pass is the same for every variant, and eager JAX
    would compile each of its operations)."""
    from rnn_oracle.architectures.reference import on_backend

    return Part(_network_pass, _network_pass, on_backend)


def _compose(case: NetworkCase, be: Backend, variant: str) -> Reference:
    """The sweep from the head down (see the module docstring)."""
    spec = case.spec
    part = network_pass()
    passed, weight = run_compiled(part.what, part.fn, part.convert, case, be)
    dtype = case.dtype
    loss = passed["loss"]
    # Each block's input sequence and initial state, in its own time order.
    reads = {prefix: (be.to_numpy(xs), be.to_numpy(passed["h0"][prefix]))
             for prefix, xs in passed["xs"].items()}

    # -- the head ---------------------------------------------------------------------------
    grads: dict[str, np.ndarray] = {}
    if spec.head == "none":
        assert case.upstream is not None
        d_top = (weight * case.upstream).astype(dtype)
    else:
        grads["W_hy"] = be.to_numpy(passed["W_hy"])
        grads["b_y"] = be.to_numpy(passed["b_y"])
        d_top = be.to_numpy(passed["d_top"])

    def store(block: Block, ref: Mapping[str, np.ndarray]) -> None:
        for name in ("W_hh", "W_xh", "b_h"):
            grads[block.prefix + name] = ref[name]

    arch = spec.architecture
    seq_len = case.seq_len
    if arch == "encoder_decoder":
        enc, dec = spec.blocks()
        d_h0_dec, d_dec_x, g = _solve_block(case, be, variant, dec, reads[dec.prefix], d_top)
        store(dec, g)
        grads["decoder_inputs"] = d_dec_x
        enc_up = np.zeros((seq_len, *d_h0_dec.shape), dtype=dtype)
        enc_up[-1] = d_h0_dec
        d_h0, d_x, g = _solve_block(case, be, variant, enc, reads[enc.prefix], enc_up)
        store(enc, g)
        grads[f"{enc.prefix}h0"] = d_h0
        grads["inputs"] = d_x
    elif arch == "one_to_many":
        (block,) = spec.blocks()
        d_h0, d_x, g = _solve_block(case, be, variant, block, reads[block.prefix], d_top)
        store(block, g)
        grads[f"{block.prefix}h0"] = d_h0
        grads["inputs"] = d_x[:1]  # the later inputs are constant zeros
    else:
        if arch == "many_to_one":
            d_seq = np.zeros((seq_len, *d_top.shape[1:]), dtype=dtype)
            d_seq[-1] = d_top[0]
        else:
            d_seq = np.asarray(d_top)
        for layer in range(spec.layers - 1, -1, -1):
            blocks = [b for b in spec.blocks() if b.layer == layer]
            below: np.ndarray | None = None
            for k, block in enumerate(blocks):
                d_out = d_seq[..., k * spec.n_h : (k + 1) * spec.n_h]
                backward = block.direction == "backward"
                if backward:
                    d_out = d_out[::-1]
                d_h0, d_x, g = _solve_block(case, be, variant, block, reads[block.prefix],
                                            d_out)
                store(block, g)
                grads[f"{block.prefix}h0"] = d_h0
                if backward:
                    d_x = d_x[::-1]
                below = d_x if below is None else below + d_x
            assert below is not None
            d_seq = below
        grads["inputs"] = d_seq

    return Reference(
        METHOD_NAMES[variant], be.name, dtype, loss,
        {n: be.asarray(np.ascontiguousarray(grads[n]), dtype) for n in case.input_names},
    )


def _solve_block(
    case: NetworkCase, be: Backend, variant: str, block: Block,
    read: tuple[np.ndarray, np.ndarray], upstream: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """One block, reading ``read = (xs, h0)`` (its inputs from its initial state), as a
    single-layer layer-mode case solved by ``variant`` on ``be``.

    Returns ``(∂J/∂h0, ∂J/∂xs, {W_hh, W_xh, b_h})``; ``xs`` and ``upstream`` are in the
    block's own time order (reversed for a backward block)."""
    from rnn_oracle._reference import computed_together, reference

    spec = case.spec
    dtype = case.dtype
    xs, h0 = read
    params = block_params(case.arrays, block)
    block_case = Case(
        spec=RNNSpec(cell=spec.cell, n_x=block.n_in, n_h=spec.n_h, head="none",
                     loss_sign="standard", time_reduction="sum", batch_reduction="sum",
                     inputs="dense", initial_state="given"),
        params={n: params[n] for n in ("W_hh", "W_xh", "b_h")},
        inputs=xs.astype(dtype),
        h0=h0.astype(dtype),
        upstream=np.ascontiguousarray(upstream, dtype=dtype),
    )
    if variant == "rtrl":
        from rnn_oracle.derivations import rtrl

        needed = rtrl.memory_estimate(block_case)
        if needed > rtrl.MEMORY_BUDGET_BYTES:
            raise OracleError(
                f"n/a: rtrl: the forward sensitivities of block {block.prefix.rstrip('.')} "
                f"need about {needed / 2**20:.3g} MiB, over the budget of "
                f"{rtrl.MEMORY_BUDGET_BYTES / 2**20:.3g} MiB (RNN_ORACLE_RTRL_BUDGET_MB)"
            )
    with computed_together(block_case, be, _BLOCK_VARIANTS.get()):
        ref = reference(block_case, be, variant).numpy()
    g = {n: np.asarray(ref.grads[n]) for n in ("W_hh", "W_xh", "b_h")}
    return np.asarray(ref.grads["h0"]), np.asarray(ref.grads["inputs"]), g
