"""Hypothesis strategies for your own property tests of RNN gradients.

Needs ``hypothesis`` (``pip install 'rnn-oracle[test]'``); ``import rnn_oracle`` does not
import this module.

* :func:`specs` — networks (cell, sizes, head, loss sign, reductions, input kind);
* :func:`network_specs` — :class:`~rnn_oracle.architectures.NetworkSpec` architectures
  (many-to-one, encoder–decoder, stacked, bidirectional, …; vanilla, GRU and LSTM cells);
* :func:`network_cases` — concrete :class:`~rnn_oracle.architectures.NetworkCase` arrays;
* :func:`cases` — concrete :class:`~rnn_oracle.Case` arrays for a spec strategy;
* :func:`conventions` — named parameter conventions;
* :func:`check_options` — keyword arguments for :func:`~rnn_oracle.check_gradients` that a
  given convention can express (spec, ``seq_len``, ``batch``, ``seed``, ``scale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.spec import (
    ARCHITECTURES,
    FEEDBACKS,
    MULTI_LAYER,
    NETWORK_CELLS,
    NetworkSpec,
)
from rnn_oracle.case import Case, make_case
from rnn_oracle.params import PRESETS, ParamConvention, get_convention
from rnn_oracle.spec import (
    CELLS,
    HEADS,
    INITIAL_STATES,
    INPUT_KINDS,
    LOSS_SIGNS,
    REDUCTIONS,
    RNNSpec,
)

__all__ = ["cases", "check_options", "conventions", "network_cases", "network_specs", "specs"]


def specs(
    *,
    cells: Sequence[str] = CELLS,
    heads: Sequence[str] = HEADS,
    inputs: Sequence[str] = INPUT_KINDS,
    loss_signs: Sequence[str] = LOSS_SIGNS,
    reductions: Sequence[str] = REDUCTIONS,
    initial_states: Sequence[str] = INITIAL_STATES,
    min_size: int = 1,
    max_size: int = 6,
    sizes: Sequence[int] | None = None,
) -> st.SearchStrategy[RNNSpec]:
    """Valid :class:`RNNSpec` values with sizes in ``[min_size, max_size]``, or drawn from
    ``sizes`` when given (frameworks that compile per shape, like JAX, then reuse their
    compilations across examples)."""

    @st.composite
    def build(draw: st.DrawFn) -> RNNSpec:
        head = draw(st.sampled_from(list(heads)))
        low_y = max(min_size, 2) if head == "softmax_ce" else min_size

        def size(low: int) -> int:
            if sizes is not None:
                return draw(st.sampled_from([n for n in sizes if n >= low]))
            return draw(st.integers(low, max(low, max_size)))

        return RNNSpec(
            cell=draw(st.sampled_from(list(cells))),
            n_x=size(min_size),
            n_h=size(min_size),
            n_y=size(low_y),
            head=head,  # type: ignore[arg-type]
            loss_sign=draw(st.sampled_from(list(loss_signs))),
            time_reduction=draw(st.sampled_from(list(reductions))),
            batch_reduction=draw(st.sampled_from(list(reductions))),
            inputs=draw(st.sampled_from(list(inputs))),
            initial_state=draw(st.sampled_from(list(initial_states))),
        )

    return build()


def network_specs(
    *,
    architectures: Sequence[str] = ARCHITECTURES,
    cells: Sequence[str] = NETWORK_CELLS,
    heads: Sequence[str] = HEADS,
    feedbacks: Sequence[str] = FEEDBACKS,
    loss_signs: Sequence[str] = LOSS_SIGNS,
    reductions: Sequence[str] = REDUCTIONS,
    initial_states: Sequence[str] = INITIAL_STATES,
    min_size: int = 1,
    max_size: int = 4,
    sizes: Sequence[int] | None = None,
    max_layers: int = 3,
) -> st.SearchStrategy[NetworkSpec]:
    """Valid :class:`~rnn_oracle.architectures.NetworkSpec` values.

    ``feedbacks`` apply to ``one_to_many`` only (every other architecture gets ``none``);
    ``output`` is drawn only with a head that has an output, and a feedback sets ``n_x``
    to the size it feeds back (``n_y`` or ``n_h``), so with ``sizes`` given that size is
    one of them too. Multi-layer architectures get 2 to ``max_layers`` layers.
    """
    if max_layers < 2 and any(a in MULTI_LAYER for a in architectures):
        raise ValueError(f"network_specs: max_layers must be at least 2, got {max_layers}")

    @st.composite
    def build(draw: st.DrawFn) -> NetworkSpec:
        architecture = draw(st.sampled_from(list(architectures)))
        head = draw(st.sampled_from(list(heads)))
        low_y = max(min_size, 2) if head == "softmax_ce" else min_size

        def size(low: int) -> int:
            if sizes is not None:
                return draw(st.sampled_from([n for n in sizes if n >= low]))
            return draw(st.integers(low, max(low, max_size)))

        feedback = "none"
        if architecture == "one_to_many":
            allowed = [f for f in feedbacks if not (f == "output" and head == "none")]
            feedback = draw(st.sampled_from(allowed or ["none"]))
        n_h, n_y = size(min_size), size(low_y)
        n_x = {"output": n_y, "hidden": n_h}.get(feedback) or size(min_size)
        layers = draw(st.integers(2, max_layers)) if architecture in MULTI_LAYER else 1
        return NetworkSpec(
            architecture=architecture,  # type: ignore[arg-type]
            cell=draw(st.sampled_from(list(cells))),
            n_x=n_x,
            n_h=n_h,
            n_y=n_y,
            n_layers=layers,
            head=head,
            loss_sign=draw(st.sampled_from(list(loss_signs))),
            time_reduction=draw(st.sampled_from(list(reductions))),
            batch_reduction=draw(st.sampled_from(list(reductions))),
            feedback=feedback,
            initial_state=draw(st.sampled_from(list(initial_states))),
        )

    return build()


def network_cases(
    spec: st.SearchStrategy[NetworkSpec] | NetworkSpec | None = None,
    *,
    max_seq_len: int = 6,
    batch: st.SearchStrategy[int | None] | None = None,
    dtype: str = "float64",
    max_scale: float = 1.5,
) -> st.SearchStrategy[NetworkCase]:
    """Random :class:`~rnn_oracle.architectures.NetworkCase` values; ``batch`` defaults to
    ``None`` or 1–3. The input length and, for one_to_many and encoder_decoder, the output
    length are drawn from 1 to ``max_seq_len`` independently."""
    spec_strategy = (
        network_specs() if spec is None
        else st.just(spec) if isinstance(spec, NetworkSpec) else spec
    )
    batches = batch if batch is not None else st.one_of(st.none(), st.integers(1, 3))

    @st.composite
    def build(draw: st.DrawFn) -> NetworkCase:
        return make_network_case(
            draw(spec_strategy),
            draw(st.integers(1, max_seq_len)),
            draw(batches),
            draw(st.integers(0, 2**31 - 1)),
            dtype,
            out_len=draw(st.integers(1, max_seq_len)),
            scale=draw(st.floats(0.25, max_scale)),
        )

    return build()


def cases(
    spec: st.SearchStrategy[RNNSpec] | RNNSpec | None = None,
    *,
    max_seq_len: int = 12,
    batch: st.SearchStrategy[int | None] | None = None,
    dtype: str = "float64",
    max_scale: float = 2.0,
) -> st.SearchStrategy[Case]:
    """Random :class:`Case` values; ``batch`` defaults to ``None`` or 1–3."""
    spec_strategy = (
        specs() if spec is None else st.just(spec) if isinstance(spec, RNNSpec) else spec
    )
    batches = batch if batch is not None else st.one_of(st.none(), st.integers(1, 3))

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        return make_case(
            draw(spec_strategy),
            draw(st.integers(1, max_seq_len)),
            draw(batches),
            draw(st.integers(0, 2**31 - 1)),
            dtype,
            scale=draw(st.floats(0.25, max_scale)),
        )

    return build()


def conventions(names: Sequence[str] | None = None) -> st.SearchStrategy[ParamConvention]:
    """Named conventions (all presets by default)."""
    return st.sampled_from([get_convention(n) for n in (names or list(PRESETS))])


def check_options(
    convention: str | ParamConvention,
    *,
    mode: str = "model",
    cells: Sequence[str] = CELLS,
    heads: Sequence[str] = ("softmax_ce", "linear_mse"),
    loss_signs: Sequence[str] = LOSS_SIGNS,
    reductions: Sequence[str] = REDUCTIONS,
    max_size: int = 6,
    max_seq_len: int = 50,
    max_scale: float = 6.0,
    batches: Sequence[int] = (1, 2, 3),
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``check_gradients(target, convention=..., cases=1, **kw)``.

    The spec and batch respect what ``convention`` can express: class-index inputs only
    for conventions that take them (``karpathy``), no batch for column-vector ones. Weight
    scales reach saturation for tanh and sigmoid; relu and identity, which have no
    saturation and explode instead, stay at scales ≤ 1.2.
    """
    conv = get_convention(convention)
    input_kinds = ("indices",) if conv.inputs == "indices" else ("dense", "one_hot")
    spec_strategy = specs(
        cells=cells,
        heads=heads if mode == "model" else ("none",),
        inputs=input_kinds,
        loss_signs=loss_signs,
        reductions=reductions,
        max_size=max_size,
    )
    batch_strategy: st.SearchStrategy[int | None] = (
        st.none() if conv.vectors == "column" else st.sampled_from(list(batches))
    )

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        spec = draw(spec_strategy)
        top = max_scale if spec.cell in ("tanh", "sigmoid") else min(max_scale, 1.2)
        return {
            "spec": spec,
            "mode": mode,
            "seq_len": draw(st.integers(1, max_seq_len)),
            "batch": draw(batch_strategy),
            "seed": draw(st.integers(0, 2**31 - 1)),
            "scale": draw(st.floats(0.25, top)),
        }

    return build()
