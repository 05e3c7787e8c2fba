"""The diagnosis' hand BPTT variants are independent computations: without a slip they
reproduce the reference, and their pieces add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnn_oracle as ro
from rnn_oracle.oracle.variants import DERIVATIVES, Slip, decompose, run_forward, variant_bptt
from tests.strategies import case_args

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def _close(a: Any, b: Any) -> None:
    assert ro.discrepancy(np.asarray(a), np.asarray(b)).error <= 1e-10


@given(case_args(heads=("softmax_ce", "linear_mse", "none"), max_seq_len=8))
def test_no_slip_reproduces_the_reference(args: dict[str, Any]) -> None:
    case = ro.make_case(**args)  # type: ignore[arg-type]
    ref = ro.reference(case).numpy()
    grads, per_step = variant_bptt(case, run_forward(case), Slip())
    for name, value in ref.grads.items():
        _close(grads[name], value)
    assert ref.per_step is not None
    for name, value in ref.per_step.items():
        _close(per_step[name], value)


@given(case_args(heads=("softmax_ce", "none"), max_seq_len=7))
def test_decomposition_adds_up_and_k1_is_the_local_gradient(args: dict[str, Any]) -> None:
    case = ro.make_case(**args)  # type: ignore[arg-type]
    ref = ro.reference(case).numpy()
    parts = decompose(case, run_forward(case))
    assert ref.local is not None
    for name in ("W_hh", "W_xh", "b_h", "h0", *(("inputs",) if "inputs" in ref.grads else ())):
        full, _ = parts.truncated(name, case.seq_len)
        _close(full, ref.grads[name])
        if name in ref.local:
            local, _ = parts.truncated(name, 1)
            _close(local, ref.local[name].sum(axis=0))


def test_the_correct_derivative_label_matches_each_cell() -> None:
    correct = {"tanh": "1 − h²", "sigmoid": "h (1 − h)", "relu": "1[h > 0]",
               "identity": "1 (derivative omitted)"}
    for cell, label in correct.items():
        case = ro.make_case(ro.RNNSpec(cell=cell), 5, 2, seed=3)  # type: ignore[arg-type]
        ref = ro.reference(case).numpy()
        grads, _ = variant_bptt(case, run_forward(case), Slip(derivative=label))
        _close(grads["W_hh"], ref.grads["W_hh"])
        others = [k for k in DERIVATIVES if k != label]
        wrong, _ = variant_bptt(case, run_forward(case), Slip(derivative=others[1]))
        assert ro.discrepancy(wrong["W_hh"], ref.grads["W_hh"]).error > 1e-3


@pytest.mark.parametrize(
    "slip",
    [Slip(w_hh_state="current"), Slip(w_hy_state="prev"), Slip(derivative_of_previous=True),
     Slip(recurrent_transposed=True)],
)
def test_each_slip_changes_the_gradient(slip: Slip) -> None:
    case = ro.make_case(ro.RNNSpec(), 6, None, seed=1)
    ref = ro.reference(case).numpy()
    grads, _ = variant_bptt(case, run_forward(case), slip)
    assert max(ro.discrepancy(grads[n], ref.grads[n]).error for n in ref.grads) > 1e-3


@given(st.integers(2, 6))
def test_truncation_longer_than_the_sequence_is_full_bptt(seq_len: int) -> None:
    case = ro.make_case(ro.RNNSpec(), seq_len, 2, seed=seq_len)
    ref = ro.reference(case).numpy()
    parts = decompose(case, run_forward(case))
    value, stack = parts.truncated("W_hh", seq_len + 3)
    _close(value, ref.grads["W_hh"])
    assert stack is not None and stack.shape == (seq_len, 8, 8)
