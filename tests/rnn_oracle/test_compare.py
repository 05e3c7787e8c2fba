"""Normwise relative error and tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_oracle import OracleError, discrepancy, tolerance

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def test_discrepancy_reports_the_worst_entry() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = a.copy()
    b[1, 0] = 3.5
    d = discrepancy(a, b)
    assert d.index == (1, 0) and d.value == 3.0 and d.expected == 3.5
    assert d.error == pytest.approx(0.5 / 4.0)


def test_discrepancy_of_zeros_and_non_finite() -> None:
    assert discrepancy(np.zeros(3), np.zeros(3)).error == 0.0
    d = discrepancy(np.array([1.0, np.nan]), np.ones(2))
    assert d.error == float("inf") and d.index == (1,)


def test_discrepancy_refuses_different_shapes() -> None:
    with pytest.raises(OracleError, match=r"shapes differ, got \(2,\) against expected \(3,\)"):
        discrepancy(np.zeros(2), np.zeros(3))


def test_tolerance_policy() -> None:
    assert tolerance("float64", 10) == 1e-10
    assert tolerance("float32", 4) < tolerance("float32", 16)
    with pytest.raises(OracleError, match="dtype"):
        tolerance("int8", 3)
