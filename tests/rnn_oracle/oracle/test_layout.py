"""Layout: canonical <-> convention conversions are exact and invertible."""

from __future__ import annotations

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.oracle.layout import Layout


@pytest.mark.parametrize("name", ["karpathy", "seed003", "cs231n", "torch", "keras", "dlbook"])
def test_round_trip_of_every_gradient(name: str) -> None:
    conv = ro.get_convention(name)
    spec = ro.RNNSpec(n_x=3, n_h=5, n_y=4, inputs=conv.inputs)
    batch = None if conv.vectors == "column" else 2
    case = ro.make_case(spec, 6, batch, seed=2)
    lay = Layout(conv, spec)
    ref = ro.reference(case).numpy()
    shapes = lay.shapes(case)
    for user in (*lay.param_names, *lay.data_names()):
        canonical = ref.grads[lay.canonical(user)]
        value = lay.to_user(user, canonical)
        assert value.shape == shapes[user]
        assert np.array_equal(lay.to_canonical(user, value), canonical)


def test_per_step_stacks_follow_the_parameter() -> None:
    conv = ro.get_convention("seed003")
    spec = ro.RNNSpec(n_x=3, n_h=5, n_y=4)
    lay = Layout(conv, spec)
    stack = np.arange(2 * 4 * 5.0).reshape(2, 4, 5)  # (T, n_y, n_h) for W_hy
    user = lay.stack_to_user("W_ya", stack)
    assert user.shape == (2, 5, 4) and np.array_equal(user[1], stack[1].T)
    bias = lay.stack_to_user("b_a", np.ones((2, 5)))
    assert bias.shape == (2, 5, 1)
    assert lay.describe("W_ya") == "W_hy.T" and lay.describe("b_a") == "b_h"


def test_index_sequences_become_lists_when_unbatched() -> None:
    lay = Layout(ro.get_convention("karpathy"), ro.RNNSpec(inputs="indices"))
    assert lay.sequence_to_user(np.array([2, 0, 1])) == [2, 0, 1]
    batched = lay.sequence_to_user(np.array([[2, 0], [1, 1]]))
    assert isinstance(batched, np.ndarray)
