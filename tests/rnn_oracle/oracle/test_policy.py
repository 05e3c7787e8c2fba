"""The tolerance policy: both errors must exceed their bounds; bounds come from the local
term scale and the measured drift; a case must be able to tell right from wrong."""

from __future__ import annotations

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.compare import term_scales, tolerance
from rnn_oracle.oracle.policy import (
    DRIFT_FACTOR,
    bounds,
    discriminates,
    judge,
    measured_drift,
    representable,
    step_judgements,
    underflows,
)

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


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


def test_bounds_are_the_local_scale_or_the_drift() -> None:
    """atol = max(rtol · S_local, F · D): never below either part."""
    case = ro.make_case(ro.RNNSpec(), 9, 2, seed=4)
    ref = ro.reference(case).numpy()
    b = bounds(case, ref)
    local = term_scales(case, carried=False)
    assert b.rtol == tolerance("float64", 9)
    for name, scale in local.items():
        assert b.atol[name] >= b.rtol * scale
        assert b.atol[name] <= max(b.rtol * scale, 1e-6 * np.max(np.abs(ref.grads[name])))
    assert b.loss_atol is not None and b.loss_atol > 0


def test_the_local_scale_does_not_compound_over_time() -> None:
    """The carried term scale grows like ‖|W_hh|‖^T while the true products shrink; the
    local one stays within a small multiple of the gradient at T = 200."""
    spec = ro.RNNSpec(cell="tanh", n_x=16, n_h=16, n_y=16, head="none")
    case = ro.make_case(spec, 200, 2, seed=0, scale=1.0)
    ref = ro.reference(case).numpy()
    local = term_scales(case, carried=False)
    carried = term_scales(case)
    size = float(np.max(np.abs(ref.grads["W_hh"])))
    assert size <= local["W_hh"] <= 100 * size
    assert carried["W_hh"] > 1e6 * local["W_hh"]


def test_the_float32_drift_includes_the_float32_bptt_itself() -> None:
    case = ro.make_case(ro.RNNSpec(), 9, 2, seed=4, dtype="float32", scale=5.0)
    ref = ro.reference(case.astype("float64")).numpy()
    ref32 = ro.reference(case).numpy()
    values = {k: np.asarray(v) for k, v in ref.grads.items()}
    drift = measured_drift(case, lambda c: {
        k: np.asarray(v, dtype=np.float64) for k, v in ro.reference(c).numpy().grads.items()
    }, values)
    b = bounds(case, ref)
    for name in values:
        own = float(np.max(np.abs(ref32.grads[name] - ref.grads[name])))
        assert drift[name] >= own > 0
        assert b.atol[name] >= DRIFT_FACTOR * drift[name] * (1 - 1e-12)


def test_float64_drift_is_measured_on_perturbed_reruns() -> None:
    """In float64 the unperturbed rerun is the reference itself; the ε-perturbed ones move
    it by a few ε of its size on a well-conditioned case."""
    case = ro.make_case(ro.RNNSpec(), 12, 2, seed=1)
    ref = {k: np.asarray(v) for k, v in ro.reference(case).numpy().grads.items()}
    drift = measured_drift(case, lambda c: {
        k: np.asarray(v) for k, v in ro.reference(c).numpy().grads.items()
    }, ref)
    eps = np.finfo(np.float64).eps
    for name, d in drift.items():
        size = float(np.max(np.abs(ref[name])))
        assert 0 < d < 1e4 * eps * size


def _tanh_through_exp(a: np.ndarray) -> np.ndarray:
    """tanh as another library may compute it: within an ulp or two of ``np.tanh``."""
    return 1.0 - 2.0 / (np.exp(2.0 * a) + 1.0)


def _one_tanh_layer(params: dict, inputs: np.ndarray, states: dict, upstream: np.ndarray) -> dict:
    """A correct one-layer tanh stack in canonical names, written from scratch with
    :func:`_tanh_through_exp`: correct code whose rounding is not ours."""
    Wx, Wh, b = (params[f"layer0.forward.{k}"] for k in ("W_xh", "W_hh", "b_h"))
    h0 = states["layer0.forward.h0"]
    h, hs = h0, []
    for x in inputs:
        h = _tanh_through_exp(x @ Wx.T + h @ Wh.T + b)
        hs.append(h)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dx, dprev = np.zeros_like(inputs), np.zeros_like(h0)
    for t in reversed(range(len(inputs))):
        da = (upstream[t] + dprev) * (1 - hs[t] ** 2)
        dx[t] = da @ Wx
        dWx += da.T @ inputs[t]
        dWh += da.T @ (hs[t - 1] if t else h0)
        db += da.sum(axis=0)
        dprev = da @ Wh
    return {"layer0.forward.W_xh": dWx, "layer0.forward.W_hh": dWh, "layer0.forward.b_h": db,
            "inputs": dx, "layer0.forward.h0": dprev}


def test_a_saturated_state_rounded_another_way_is_no_false_alarm() -> None:
    """Deep in tanh saturation ``1 − h²`` from an ``h`` one ulp away differs relatively by
    ``≈ 2ε/(1 − h²)``; the reruns round every nonlinearity output to cover it. Seed 22 is a
    case where a bound from perturbed inputs alone (the policy before) failed this correct
    code's h0 gradient by a factor of thousands."""
    from rnn_oracle.architectures import NetworkSpec

    spec = NetworkSpec(architecture="many_to_many", cell="tanh", n_x=1, n_h=1, n_y=1,
                       head="none")
    for seed in (22, 5, 9):
        report = ro.check_network_gradients(_one_tanh_layer, spec=spec, cases=1, seq_len=46,
                                            batch=2, scale=3.8, seed=seed)
        assert report.passed, report.summary
        negated = ro.check_network_gradients(
            lambda p, x, s, u: {k: (-v if k == "layer0.forward.h0" else v)
                                for k, v in _one_tanh_layer(p, x, s, u).items()},
            spec=spec, cases=1, seq_len=46, batch=2, scale=3.8, seed=seed)
        assert not negated.passed  # the bound still tells a negated h0 gradient


def test_a_vacuous_bound_does_not_discriminate() -> None:
    R = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert discriminates(R, atol=1e-9, rtol=1e-10) is None
    reason = discriminates(R, atol=10.0, rtol=1e-10)
    assert reason is not None and "cannot resolve" in reason
    # A bound below the resolution but a loose rtol (0.5) lets a doubled gradient through
    # (relative error 1/3) while the zero and negated ones (relative error 1) fail.
    loose = discriminates(R, atol=1e-9, rtol=0.5,
                          alternatives=[("negated", -R), ("doubled", 2 * R)])
    assert loose is not None and "doubled" in loose


def test_an_alternative_equal_to_the_reference_is_no_wrong_answer() -> None:
    symmetric = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert discriminates(symmetric, 1e-9, 1e-10, [("transposed", symmetric.T)]) is None


def test_values_beyond_the_dtype_are_not_representable() -> None:
    assert representable({"W_hh": np.array([5.07e38])}, "float32") is not None
    assert representable({"W_hh": np.array([5.07e38])}, "float64") is None
    assert representable({"loss": np.array(np.inf)}, "float64") is not None
    assert underflows(np.array([1e-35]), "float32") is not None
    assert underflows(np.array([1e-35]), "float64") is None
    assert underflows(np.zeros(3), "float32") is None


def test_layer_mode_has_no_loss_bound() -> None:
    case = ro.make_case(ro.RNNSpec(head="none"), 4, None, seed=0)
    assert bounds(case, ro.reference(case).numpy()).loss_atol is None


def test_step_judgements_agree_with_judge_slice_by_slice() -> None:
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((6, 3, 4))
    actual = expected.copy()
    actual[2, 1, 3] += 1.0
    actual[4] *= 1.0 + 1e-12
    actual[5, 0, 0] = np.nan
    got = step_judgements(actual, expected, atol=1e-6, rtol=1e-8)
    for t in range(6):
        j = judge(actual[t], expected[t], 1e-6, 1e-8)
        assert got[t][1] == j.passed
        assert got[t][0] == pytest.approx(j.ratio) or (np.isinf(got[t][0]) and np.isinf(j.ratio))
    assert [passed for _, passed in got] == [True, True, False, True, True, False]
