"""Finite differences: steps per dtype and the directional check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from rnn_oracle import OracleError, RNNSpec, directional_check, make_case, reference
from rnn_oracle.derivations.finite_difference import direction, step_size
from tests.strategies import case_args

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def test_step_is_cube_root_of_epsilon() -> None:
    assert step_size("float64") == pytest.approx(np.finfo(np.float64).eps ** (1 / 3))
    assert step_size("float32") == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))
    assert step_size("float32") > 500 * step_size("float64")  # (2^29)^(1/3) ≈ 812


def test_direction_is_seeded_signed_and_unit() -> None:
    case = make_case(RNNSpec(), 3, batch=2)
    d1, d2, d3 = direction(case, 1), direction(case, 1), direction(case, 2)
    flat = np.concatenate([v.ravel() for v in d1.values()])
    assert np.isclose(np.linalg.norm(flat), 1.0)
    assert np.any(flat < 0) and np.any(flat > 0)
    assert all(np.array_equal(d1[n], d2[n]) for n in d1)
    assert not np.array_equal(d1["W_hh"], d3["W_hh"])


@given(case_args(max_seq_len=8, max_scale=1.5))
@settings(max_examples=20)
def test_directional_check_passes_correct_gradients(args: dict) -> None:
    case = make_case(**args)
    check = directional_check(case, reference(case, method="complex_step").grads, seed=3)
    assert check.passed, check


def _corrupt(grads: dict, how: str) -> dict:
    out = {k: np.array(v) for k, v in grads.items()}
    if how == "negated":
        out["W_hh"] = -out["W_hh"]
    elif how == "transposed":
        out["W_hh"] = out["W_hh"].T.copy()
    elif how == "scaled":
        out["W_xh"] = out["W_xh"] * 2
    elif how == "one_entry":
        out["b_h"][1] *= 1.01
    elif how == "no_recurrence":
        out["h0"] = np.zeros_like(out["h0"])
    return out


@pytest.mark.parametrize("how", ["negated", "transposed", "scaled", "one_entry", "no_recurrence"])
def test_directional_check_catches_wrong_gradients(how: str) -> None:
    case = make_case(RNNSpec(n_h=5), 5, batch=2, seed=7)
    good = reference(case).grads
    check = directional_check(case, _corrupt(dict(good), how), seed=0)
    assert not check.passed, check


def test_directional_check_validates_its_input() -> None:
    case = make_case(RNNSpec(), 3)
    grads = dict(reference(case).grads)
    with pytest.raises(OracleError, match=r"lacks \['h0'\]"):
        directional_check(case, {k: v for k, v in grads.items() if k != "h0"})
    grads["W_hh"] = grads["W_hh"][:2]
    with pytest.raises(OracleError, match=r"grads\['W_hh'\] has shape \(2, 8\), expected \(8, 8\)"):
        directional_check(case, grads)


def test_float32_differences_use_the_float32_step_and_are_less_accurate() -> None:
    spec = RNNSpec(n_h=4)
    c64 = make_case(spec, 3, seed=1)
    c32 = c64.astype("float32")
    e64 = reference(c64, method="finite_difference").error
    e32 = reference(c32, method="finite_difference").error
    assert np.max(e32["W_hh"]) > 1e3 * np.max(e64["W_hh"])
