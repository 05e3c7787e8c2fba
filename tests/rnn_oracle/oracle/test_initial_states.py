"""Initial states as the code has them: given, zero, fixed or learned, per state.

The code under test is written from scratch here and in the corpus (CS231n's LSTM, which
fixes ``c0 = 0`` and returns no ``dc0``); the reference is the oracle's hand BPTT.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n_lstm

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

PREFIX = "layer0.forward."
CS231N_SPEC = ro.NetworkSpec(cell="lstm", n_x=3, n_h=4, head="none",
                             initial_state={"h": "given", "c": "zero"})


def tanh_layer(params: dict[str, Any], inputs: Any, h0: Any, upstream: Any) -> dict[str, Any]:
    """A correct one-layer tanh stack, time-major rows, canonical names (no prefix)."""
    Wx, Wh, b = params["W_xh"], params["W_hh"], params["b_h"]
    h, hs = h0, []
    for x in inputs:
        h = np.tanh(x @ Wx.T + h @ Wh.T + b)
        hs.append(h)
    grads = {"W_xh": np.zeros_like(Wx), "W_hh": np.zeros_like(Wh), "b_h": np.zeros_like(b)}
    dx, dprev = np.zeros_like(inputs), np.zeros_like(h0)
    for t in reversed(range(len(inputs))):
        da = (upstream[t] + dprev) * (1 - hs[t] ** 2)
        dx[t] = da @ Wx
        grads["W_xh"] += da.T @ inputs[t]
        grads["W_hh"] += da.T @ (hs[t - 1] if t else h0)
        grads["b_h"] += da.sum(axis=0)
        dprev = da @ Wh
    return {**{PREFIX + k: v for k, v in grads.items()}, "inputs": dx, PREFIX + "h0": dprev}


def tanh_spec(kind: str) -> ro.NetworkSpec:
    return ro.NetworkSpec(cell="tanh", n_x=3, n_h=4, head="none", initial_state=kind)


def test_cs231n_lstm_as_written_passes_with_c0_zero() -> None:
    report = ro.check_gradients(cs231n_lstm.canonical, spec=CS231N_SPEC)
    assert report.passed, report.summary
    assert {g.name for g in report.gradients} == {
        PREFIX + n for n in ("W_xh", "W_hh", "b_xh", "b_hh", "h0")} | {"inputs"}
    assert all(g.cases_judged >= 3 for g in report.gradients)


def test_cs231n_lstm_without_the_zero_c0_is_asked_for_dc0() -> None:
    with pytest.raises(ro.OracleError, match=r"missing \['layer0\.forward\.c0'\]"):
        ro.check_gradients(cs231n_lstm.canonical, spec=CS231N_SPEC.replace(initial_state="given"))


def test_a_slip_in_cs231n_lstm_still_fails() -> None:
    """The forget gate not applied to the carried dc: every gradient is wrong."""
    right = cs231n_lstm.lstm_step_backward

    def slipped(dnext_h: Any, dnext_c: Any, cache: Any) -> Any:
        out = list(right(dnext_h, dnext_c, cache))
        o, next_c = cache[7], cache[9]
        out[2] = dnext_c + dnext_h * o * (1 - np.tanh(next_c) ** 2)  # dc · f belongs
        return tuple(out)

    cs231n_lstm.lstm_step_backward = slipped  # type: ignore[assignment]
    try:
        report = ro.check_gradients(cs231n_lstm.canonical, spec=CS231N_SPEC)
    finally:
        cs231n_lstm.lstm_step_backward = right  # type: ignore[assignment]
    assert report.verdict == "wrong"
    assert not report[PREFIX + "W_hh"].passed


def test_a_zero_state_is_passed_as_zeros_and_its_gradient_is_optional() -> None:
    seen: list[Any] = []

    def no_dh0(params: dict[str, Any], inputs: Any, states: dict[str, Any], up: Any) -> Any:
        seen.append(states[PREFIX + "h0"])
        grads = tanh_layer({k.split(".")[-1]: v for k, v in params.items()}, inputs,
                           states[PREFIX + "h0"], up)
        del grads[PREFIX + "h0"]
        return grads

    report = ro.check_gradients(no_dh0, spec=tanh_spec("zero"))
    assert report.passed, report.summary
    assert seen and all(np.all(h0 == 0) for h0 in seen)
    assert PREFIX + "h0" not in {g.name for g in report.gradients}


def test_a_fixed_state_is_random_and_a_returned_gradient_of_it_is_judged() -> None:
    def fixed(params: dict[str, Any], inputs: Any, states: dict[str, Any], up: Any) -> Any:
        assert np.any(states[PREFIX + "h0"] != 0)
        return tanh_layer({k.split(".")[-1]: v for k, v in params.items()}, inputs,
                          states[PREFIX + "h0"], up)

    report = ro.check_gradients(fixed, spec=tanh_spec("fixed"))
    assert report.passed and report[PREFIX + "h0"].cases_judged >= 3

    def wrong_dh0(params: dict[str, Any], inputs: Any, states: dict[str, Any], up: Any) -> Any:
        grads = fixed(params, inputs, states, up)
        grads[PREFIX + "h0"] = -grads[PREFIX + "h0"]
        return grads

    report = ro.check_gradients(wrong_dh0, spec=tanh_spec("fixed"))
    assert report.verdict == "wrong" and report.causes == {PREFIX + "h0": "negated"}


def test_a_learned_state_comes_with_the_parameters_and_needs_its_gradient() -> None:
    def learned(params: dict[str, Any], inputs: Any, states: dict[str, Any], up: Any) -> Any:
        assert states == {} and PREFIX + "h0" in params
        return tanh_layer({k.split(".")[-1]: v for k, v in params.items()}, inputs,
                          params[PREFIX + "h0"], up)

    report = ro.check_gradients(learned, spec=tanh_spec("learned"))
    assert report.passed and report[PREFIX + "h0"].cases_judged >= 3

    def forgot(params: dict[str, Any], inputs: Any, states: dict[str, Any], up: Any) -> Any:
        grads = learned(params, inputs, states, up)
        del grads[PREFIX + "h0"]
        return grads

    with pytest.raises(ro.OracleError, match=r"missing \['layer0\.forward\.h0'\]"):
        ro.check_gradients(forgot, spec=tanh_spec("learned"))
