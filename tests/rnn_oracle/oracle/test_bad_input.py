"""Bad input never passes: a clear OracleError, or a failed report that says so."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n, karpathy

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

GOOD = karpathy.make()


def _with_grads(change: Any) -> Any:
    def target(params: Any, inputs: Any, targets: Any, h0: Any) -> Any:
        loss, grads = GOOD(params, inputs, targets, h0)
        return change(loss, grads)

    return target


def test_target_raises() -> None:
    def broken(params: Any, inputs: Any, targets: Any, h0: Any) -> Any:
        raise ZeroDivisionError("oops")

    with pytest.raises(ro.OracleError, match=r"broken raised ZeroDivisionError: oops.*seed 0"):
        ro.check_gradients(broken, convention="karpathy")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda loss, g: g, r"a pair \(loss, grads\); got a dict"),
        (lambda loss, g: (loss, g, None), "of length 3"),
        (lambda loss, g: (loss, list(g.values())), "as a dict keyed by"),
        (lambda loss, g: (None, g), "scalar loss"),
        (lambda loss, g: (np.ones(3), g), r"scalar loss, got an array of shape \(3,\)"),
    ],
)
def test_wrong_structure(change: Any, message: str) -> None:
    with pytest.raises(ro.OracleError, match=message):
        ro.check_gradients(_with_grads(change), convention="karpathy")


def test_missing_and_extra_names() -> None:
    def rename(loss: Any, g: Any) -> Any:
        g = dict(g)
        g["W_xh"] = g.pop("Wxh")
        return loss, g

    with pytest.raises(ro.OracleError) as info:
        ro.check_gradients(_with_grads(rename), convention="karpathy")
    text = str(info.value)
    assert "missing ['Wxh']" in text and "unexpected ['W_xh']" in text and "karpathy" in text


def test_wrong_shape_names_the_implied_shape() -> None:
    def flat_bias(loss: Any, g: Any) -> Any:
        return loss, {**g, "bh": g["bh"].reshape(-1)}

    with pytest.raises(ro.OracleError) as info:
        ro.check_gradients(_with_grads(flat_bias), convention="karpathy")
    assert "grads['bh']" in str(info.value)
    assert "implies shape (5, 1); got (5,)" in str(info.value)


def test_transposed_non_square_gradient_is_a_failed_report() -> None:
    # Wrong shape, but exactly the transpose: a diagnosis, not a protocol error.
    report = ro.check_gradients(
        _with_grads(lambda loss, g: (loss, {**g, "Wxh": g["Wxh"].T})), convention="karpathy"
    )
    assert not report.passed
    result = report["Wxh"]
    assert result.verdict == "wrong shape"
    assert "implies shape (5, 3); got (3, 5)" in result.message
    assert result.diagnosis is not None and result.diagnosis.cause == "transposed"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradient_fails(bad: float) -> None:
    def poison(loss: Any, g: Any) -> Any:
        g = {k: v.copy() for k, v in g.items()}
        g["Whh"][1, 2] = bad
        return loss, g

    report = ro.check_gradients(_with_grads(poison), convention="karpathy")
    assert not report.passed
    result = report["Whh"]
    assert result.verdict == "non-finite" and result.worst_index == (1, 2)
    assert "[1, 2]" in result.message


def test_non_finite_loss_fails() -> None:
    report = ro.check_gradients(_with_grads(lambda loss, g: (float("nan"), g)),
                                convention="karpathy")
    assert not report.passed
    assert report.loss is not None and report.loss.verdict == "non-finite"


def test_wrong_loss_fails_with_a_diagnosis() -> None:
    report = ro.check_gradients(_with_grads(lambda loss, g: (-loss, g)), convention="karpathy")
    assert not report.passed and all(g.passed for g in report.gradients)
    assert report.loss is not None and report.loss.diagnosis is not None
    assert report.loss.diagnosis.cause == "negated"


@pytest.mark.parametrize(
    ("cast", "message"),
    [
        (np.float32, "expected dtype float64 .* got float32"),
        (np.int64, "expected real floating-point"),
        (np.complex128, "expected real floating-point"),
    ],
)
def test_wrong_dtype(cast: Any, message: str) -> None:
    def recast(loss: Any, g: Any) -> Any:
        return loss, {**g, "by": g["by"].astype(cast)}

    with pytest.raises(ro.OracleError, match=message):
        ro.check_gradients(_with_grads(recast), convention="karpathy")


def test_float32_case_returning_float64_is_noted_or_refused_when_strict() -> None:
    """NumPy code that accumulates in np.zeros(shape) answers a float32 case in float64:
    accepted with a note (more precise than the bound assumes), an error with
    strict_dtype=True; a wrong float64 answer still fails."""
    def widen(loss: Any, g: Any) -> Any:
        return loss, {k: v.astype(np.float64) for k, v in g.items()}

    report = ro.check_gradients(_with_grads(widen), convention="karpathy", dtype="float32")
    assert report.passed and len(report.notes) == 1
    assert "came back in float64 for float32 cases" in report.notes[0]
    assert "note: " in str(report) and report.to_dict()["notes"] == list(report.notes)
    with pytest.raises(ro.OracleError, match=r"expected dtype float32 .*\(strict_dtype=True"):
        ro.check_gradients(_with_grads(widen), convention="karpathy", dtype="float32",
                           strict_dtype=True)

    def widen_wrong(loss: Any, g: Any) -> Any:
        loss, g = widen(loss, g)
        return loss, {**g, "Whh": g["Whh"].T}

    wrong = ro.check_gradients(_with_grads(widen_wrong), convention="karpathy", dtype="float32")
    assert wrong.verdict == "wrong" and wrong.causes["Whh"] == "transposed"
    assert ro.check_gradients(GOOD, convention="karpathy", dtype="float32").notes == ()


def test_unknown_convention() -> None:
    with pytest.raises(ro.OracleError, match="unknown name 'karpaty'"):
        ro.check_gradients(GOOD, convention="karpaty")


def test_missing_convention_and_bad_options() -> None:
    with pytest.raises(ro.OracleError, match="needs one"):
        ro.check_gradients(GOOD)
    with pytest.raises(ro.OracleError, match="mode"):
        ro.check_gradients(GOOD, convention="karpathy", mode="both")
    with pytest.raises(ro.OracleError, match="cases"):
        ro.check_gradients(GOOD, convention="karpathy", cases=0)
    with pytest.raises(ro.OracleError, match="dtype"):
        ro.check_gradients(GOOD, convention="karpathy", dtype="float16")
    with pytest.raises(ro.OracleError, match="expected a function"):
        ro.check_gradients(42, convention="karpathy")


def test_convention_that_cannot_express_the_spec() -> None:
    with pytest.raises(ro.OracleError, match="indices"):
        ro.check_gradients(GOOD, convention="karpathy", spec=ro.RNNSpec())
    with pytest.raises(ro.OracleError, match="names no parameter"):
        ro.check_gradients(GOOD, convention="seed001")
    with pytest.raises(ro.OracleError, match="layer mode"):
        ro.check_gradients(GOOD, convention="cs231n", spec=ro.RNNSpec(head="none"))


def test_layer_mode_requires_inputs_and_h0() -> None:
    inner = cs231n.make()

    def params_only(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
        grads = inner(params, x, h0, upstream)
        return {k: grads[k] for k in ("Wx", "Wh", "b")}

    with pytest.raises(ro.OracleError, match=r"missing \['inputs', 'h0'\]"):
        ro.check_gradients(params_only, convention="cs231n", mode="layer")
