"""The tolerance policy: both errors must exceed their bounds; bounds follow dtype and T."""

from __future__ import annotations

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.compare import term_scales, tolerance
from rnn_oracle.oracle.policy import FORWARD_FACTOR, bounds, judge


def test_an_entry_fails_only_when_both_errors_exceed() -> None:
    expected = np.array([1000.0, 1e-9, 1.0])
    # Entry 0: abs 0.5 > atol but rel 2.5e-4 < rtol. Entry 1: rel 1 > rtol, abs tiny.
    # Entry 2: both exceed.
    actual = np.array([1000.5, 2e-9, 1.2])
    j = judge(actual, expected, atol=0.01, rtol=1e-3)
    assert not j.passed and j.n_failed == 1 and j.worst_index == (2,)
    assert j.abs_index == (0,) and j.max_abs == pytest.approx(0.5)
    # Entry 1: |a − b| / max(|a| + |b|, 1e-8) = 1e-9 / 1e-8 (the floor acts).
    assert j.rel_index == (1,) and j.max_rel == pytest.approx(0.1)
    assert judge(actual[:2], expected[:2], atol=0.01, rtol=1e-3).passed


def test_non_finite_entries_always_fail() -> None:
    j = judge(np.array([1.0, np.nan]), np.array([1.0, 2.0]), atol=1e9, rtol=1e9)
    assert not j.passed and j.worst_index == (1,)


def test_bounds_follow_compare_policy() -> None:
    case = ro.make_case(ro.RNNSpec(), 9, 2, seed=4)
    ref = ro.reference(case).numpy()
    b = bounds(case, ref)
    scales = term_scales(case)
    assert b.rtol == tolerance("float64", 9)
    for name, scale in scales.items():
        assert b.atol[name] == pytest.approx(b.rtol * scale)
    assert b.loss_atol is not None and b.loss_atol > 0


def test_float32_bounds_are_at_least_the_policy_and_the_drift_floor() -> None:
    case = ro.make_case(ro.RNNSpec(), 9, 2, seed=4, dtype="float32", scale=5.0)
    ref = ro.reference(case.astype("float64")).numpy()
    ref32 = ro.reference(case).numpy()
    b = bounds(case, ref)
    tol = tolerance("float32", 9)
    for name, scale in term_scales(case).items():
        drift = np.max(np.abs(ref32.grads[name] - ref.grads[name]))
        assert b.atol[name] == pytest.approx(max(tol * scale, FORWARD_FACTOR * drift))


def test_layer_mode_has_no_loss_bound() -> None:
    case = ro.make_case(ro.RNNSpec(head="none"), 4, None, seed=0)
    assert bounds(case, ro.reference(case).numpy()).loss_atol is None
