"""The diagnosis' hand BPTT variants are independent computations: without a slip they
reproduce the reference, and their pieces add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnn_oracle as ro
from rnn_oracle.oracle.variants import (
    DERIVATIVES,
    Slip,
    run_forward,
    true_derivative,
    truncated,
    variant_bptt,
)
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


def _truncated_by_hand(case: Any, k: int) -> dict[str, np.ndarray]:
    """Truncated BPTT written loss by loss: each step's loss is carried back k steps at
    most (an independent computation of what variants.truncated returns)."""
    fwd = run_forward(case)
    p = case.astype("float64").params
    dphi = true_derivative(case.spec.cell, fwd.a, fwd.h)
    T = case.seq_len
    g = {"W_hh": np.zeros_like(p["W_hh"]), "W_xh": np.zeros_like(p["W_xh"]),
         "b_h": np.zeros_like(p["b_h"]), "h0": np.zeros_like(fwd.h0),
         "inputs": np.zeros_like(fwd.x[..., :1] * p["W_xh"][:1])}
    for t in range(T):
        dh = fwd.dh_out[t]
        for s in range(t, max(t - k, -1), -1):
            da = dh * dphi[s]
            g["W_hh"] += da.T @ fwd.h_prev[s]
            g["W_xh"] += da.T @ fwd.x[s]
            g["b_h"] += da.sum(axis=0)
            g["inputs"][s] += da @ p["W_xh"]
            dh = da @ p["W_hh"]
            if s == 0:
                g["h0"] += dh
    if case.batch is None:
        g["h0"], g["inputs"] = g["h0"][0], g["inputs"][:, 0]
    return g


@given(case_args(heads=("softmax_ce", "none"), max_seq_len=7), st.integers(1, 9))
def test_truncation_matches_truncated_bptt_written_by_hand(args: dict[str, Any], k: int) -> None:
    case = ro.make_case(**args)  # type: ignore[arg-type]
    by_hand = _truncated_by_hand(case, k)
    fwd = run_forward(case)
    for name, value in by_hand.items():
        if name == "inputs" and case.spec.inputs == "indices":
            continue
        got, stack = truncated(case, fwd, name, k)
        _close(got, value)
        if stack is not None:
            _close(stack.sum(axis=0), value)


@given(case_args(heads=("softmax_ce", "none"), max_seq_len=7))
def test_full_truncation_is_the_reference_and_k1_is_the_local_gradient(
    args: dict[str, Any],
) -> None:
    case = ro.make_case(**args)  # type: ignore[arg-type]
    ref = ro.reference(case).numpy()
    fwd = run_forward(case)
    assert ref.local is not None
    for name in ("W_hh", "W_xh", "b_h", "h0", *(("inputs",) if "inputs" in ref.grads else ())):
        full, _ = truncated(case, fwd, name, case.seq_len)
        _close(full, ref.grads[name])
        if name in ref.local:
            local, _ = truncated(case, fwd, name, 1)
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
    value, stack = truncated(case, run_forward(case), "W_hh", seq_len + 3)
    _close(value, ref.grads["W_hh"])
    assert stack is not None and stack.shape == (seq_len, 8, 8)
