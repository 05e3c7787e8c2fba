"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from rnn_oracle.spec import (
    CELLS,
    HEADS,
    INITIAL_STATES,
    INPUT_KINDS,
    LOSS_SIGNS,
    REDUCTIONS,
    RNNSpec,
)


@st.composite
def specs(
    draw: st.DrawFn,
    *,
    max_size: int = 6,
    heads: tuple[str, ...] = HEADS,
    sizes: tuple[int, ...] | None = None,
) -> RNNSpec:
    """Any valid spec with small sizes (drawn from ``sizes`` when given: frameworks that
    compile per shape, like JAX, then reuse their compilations across examples)."""
    head = draw(st.sampled_from(heads))

    def size(low: int) -> int:
        if sizes is not None:
            return draw(st.sampled_from([n for n in sizes if n >= low]))
        return draw(st.integers(low, max_size))

    return RNNSpec(
        cell=draw(st.sampled_from(CELLS)),
        n_x=size(1),
        n_h=size(1),
        n_y=size(2 if head == "softmax_ce" else 1),
        head=head,
        loss_sign=draw(st.sampled_from(LOSS_SIGNS)),
        time_reduction=draw(st.sampled_from(REDUCTIONS)),
        batch_reduction=draw(st.sampled_from(REDUCTIONS)),
        inputs=draw(st.sampled_from(INPUT_KINDS)),
        initial_state=draw(st.sampled_from(INITIAL_STATES)),
    )


@st.composite
def case_args(
    draw: st.DrawFn,
    *,
    max_size: int = 6,
    max_seq_len: int = 12,
    max_scale: float = 2.0,
    heads: tuple[str, ...] = HEADS,
    sizes: tuple[int, ...] | None = None,
    seq_lens: tuple[int, ...] | None = None,
) -> dict[str, object]:
    """Keyword arguments for ``make_case``: a spec, T, an optional batch, a seed, a scale."""
    seq_len = st.integers(1, max_seq_len) if seq_lens is None else st.sampled_from(seq_lens)
    return {
        "spec": draw(specs(max_size=max_size, heads=heads, sizes=sizes)),
        "seq_len": draw(seq_len),
        "batch": draw(st.one_of(st.none(), st.integers(1, 3))),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "scale": draw(st.floats(0.25, max_scale)),
    }
