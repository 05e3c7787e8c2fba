"""Complex step is exact where the model is analytic, and refuses other backends."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from backends.numpy import NumpyBackend
from rnn_oracle import OracleError, RNNSpec, make_case, reference


def test_complex_step_on_a_closed_form() -> None:
    """One step, identity cell, MSE head, h0 = 0: J = ½‖W_hy(W_xh x + b_h) + b_y − y‖²."""
    spec = RNNSpec(cell="identity", head="linear_mse", n_x=2, n_h=3, n_y=2,
                   initial_state="zero")
    case = make_case(spec, seq_len=1, seed=0)
    p, x, y = case.params, case.inputs[0], case.targets[0]
    h = p["W_xh"] @ x + p["b_h"]
    r = p["W_hy"] @ h + p["b_y"] - y
    g = reference(case, method="complex_step").grads
    assert np.allclose(g["b_y"], r, rtol=1e-14, atol=0)
    assert np.allclose(g["W_hy"], np.outer(r, h), rtol=1e-14, atol=0)
    assert np.allclose(g["b_h"], p["W_hy"].T @ r, rtol=1e-14, atol=0)
    assert np.allclose(g["W_xh"], np.outer(p["W_hy"].T @ r, x), rtol=1e-14, atol=0)


def test_complex_step_needs_the_complex_capability() -> None:
    class NoComplex(NumpyBackend):
        name: ClassVar[str] = "nocomplex"
        capabilities: ClassVar[frozenset[str]] = frozenset()

    case = make_case(RNNSpec(), 2)
    with pytest.raises(OracleError, match=r"needs the 'complex' capability.*'nocomplex'"):
        reference(case, backend=NoComplex(), method="complex_step")
