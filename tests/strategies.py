"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from rnn_oracle.spec import HEADS
from rnn_oracle.strategies import specs


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
