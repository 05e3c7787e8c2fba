"""reference(): dispatch, errors, result conversion."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_oracle import METHODS, OracleError, RNNSpec, make_case, reference


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(OracleError, match=r"unknown method 'adjoint'; known methods are bptt"):
        reference(make_case(RNNSpec(), 2), method="adjoint")


def test_unknown_backend_is_an_oracle_error() -> None:
    with pytest.raises(OracleError, match=r"unknown name 'mxnet'"):
        reference(make_case(RNNSpec(), 2), backend="mxnet")


def test_case_must_be_a_case() -> None:
    with pytest.raises(OracleError, match="case must be a Case, got dict"):
        reference({}, method="bptt")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["bptt", "finite_difference", "complex_step"])
def test_every_numpy_method_returns_every_gradient(method: str) -> None:
    assert method in METHODS
    case = make_case(RNNSpec(inputs="one_hot"), 3, batch=2)
    ref = reference(case, method=method)
    assert ref.method == method and ref.backend == "numpy" and ref.dtype == "float64"
    assert set(ref.grads) == {"W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0", "inputs"}
    for name, value in case.arrays().items():
        assert ref.grads[name].shape == value.shape
    as_numpy = ref.numpy()
    assert isinstance(as_numpy.loss, np.ndarray) and as_numpy.loss.shape == ()


def test_reference_does_not_mutate_the_case() -> None:
    case = make_case(RNNSpec(), 3, batch=2)
    before = {k: v.copy() for k, v in case.arrays().items()}
    for method in ("bptt", "finite_difference", "complex_step"):
        reference(case, method=method)
    assert all(np.array_equal(before[k], v) for k, v in case.arrays().items())
