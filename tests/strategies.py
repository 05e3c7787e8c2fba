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
def specs(draw: st.DrawFn, *, max_size: int = 6, heads: tuple[str, ...] = HEADS) -> RNNSpec:
    """Any valid spec with small sizes."""
    head = draw(st.sampled_from(heads))
    return RNNSpec(
        cell=draw(st.sampled_from(CELLS)),
        n_x=draw(st.integers(1, max_size)),
        n_h=draw(st.integers(1, max_size)),
        n_y=draw(st.integers(2 if head == "softmax_ce" else 1, max_size)),
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
) -> dict[str, object]:
    """Keyword arguments for ``make_case``: a spec, T, an optional batch, a seed, a scale."""
    return {
        "spec": draw(specs(max_size=max_size, heads=heads)),
        "seq_len": draw(st.integers(1, max_seq_len)),
        "batch": draw(st.one_of(st.none(), st.integers(1, 3))),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "scale": draw(st.floats(0.25, max_scale)),
    }
