"""Diagnosis: the best-fitting hypothesis, its parameters (factor, k, bound, partner) and
honest 'unknown' when nothing fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.oracle.diagnosis import CAUSES, HINTS, Candidate, diagnose
from tests.rnn_oracle.oracle.corpus import britz, cs231n, general

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def _bent(change: Any, spec: ro.RNNSpec) -> Any:
    """A correct dlbook-convention function whose gradients pass through ``change``."""
    inner = general.make(spec)

    def target(params: Any, x: Any, y: Any, h0: Any) -> Any:
        loss, grads = inner(params, x, y, h0)
        return loss, change({k: v.copy() for k, v in grads.items()}, len(x))

    return target


SPEC = ro.RNNSpec(n_x=3, n_h=4, n_y=3, batch_reduction="sum")


def _check(change: Any, **options: Any) -> ro.GradientReport:
    options.setdefault("batch", None)
    return ro.check_gradients(_bent(change, SPEC), convention="dlbook", spec=SPEC, **options)


@pytest.mark.parametrize(
    ("factor", "symbol"), [(lambda T: T, "T"), (lambda T: 1 / T, "1/T"), (lambda T: 2, "2"),
                           (lambda T: -0.5, "−1/2")],
)
def test_scaled_reports_its_factor_in_every_case(factor: Any, symbol: str) -> None:
    def change(g: Any, T: int) -> Any:
        g["U"] = g["U"] * factor(T)
        return g

    report = _check(change)
    d = report["U"].diagnosis
    assert d is not None and d.cause == "scaled" and d.params["factor"] == symbol
    assert d.confidence == "exact" and report["U"].agreeing_cases == 3
    assert set(report.causes) == {"U"}


def test_batch_factor_needs_a_batch() -> None:
    def change(g: Any, T: int) -> Any:
        g["W"] = g["W"] / 3
        return g

    report = ro.check_gradients(_bent(change, SPEC), convention="dlbook", spec=SPEC, batch=3)
    d = report["W"].diagnosis
    assert d is not None and d.params["factor"] == "1/B"


def test_arbitrary_factor_is_reported_as_a_number() -> None:
    def change(g: Any, T: int) -> Any:
        g["b"] = g["b"] * 1.37
        return g

    d = _check(change)["b"].diagnosis
    assert d is not None and d.cause == "scaled" and d.params["factor"] == "1.37"


def test_clipped_reports_the_bound() -> None:
    def change(g: Any, T: int) -> Any:
        return {k: np.clip(v, -0.25, 0.25) for k, v in g.items()}

    report = _check(change)
    bounds = {g.diagnosis.params.get("bound") for g in report.failures if g.diagnosis}
    assert {g.diagnosis.cause for g in report.failures if g.diagnosis} == {"clipped"}
    assert bounds == {0.25}


def test_truncation_reports_k_and_where_disagreement_starts() -> None:
    report = ro.check_gradients(cs231n.make("truncated_4"), convention="cs231n", mode="layer",
                                cases=1, seq_len=10)
    d = report["Wh"].diagnosis
    assert d is not None and d.cause == "truncated" and d.params["k"] == 4
    # In the user's terms: each upstream gradient flows back 4 steps, its own and 3 more
    # (the corpus loops s = t, …, t − 3), which Britz's tutorial calls bptt_truncate = 3.
    assert "reaches back only k = 4 steps, its own and the 3 before it" in d.detail
    assert "bptt_truncate = 3" in d.detail
    # ∂J/∂x_t sums upstream from steps t .. t+3: correct for t ≥ 6, wrong from t = 5 down.
    assert report.disagreement_starts == 5
    assert report.steps is not None
    assert [s.passed for s in report.steps] == [False] * 6 + [True] * 4


def test_step_of_the_worst_entry_comes_from_per_step_contributions() -> None:
    report = ro.check_gradients(cs231n.make("dwx_overwritten"), convention="cs231n",
                                mode="layer", cases=1, seq_len=6)
    result = report["Wx"]
    assert result.diagnosis is not None and result.diagnosis.cause == "missing_accumulation"
    assert result.diagnosis.params["step"] == 0
    # Only step 0 survives, so the worst entry misses a later step's contribution.
    assert result.step is not None and result.step > 0
    assert result.diagnosis.per_step_deviation is not None
    assert result.diagnosis.per_step_deviation[0] == 0


def test_unknown_when_nothing_fits() -> None:
    rng = np.random.default_rng(0)

    def change(g: Any, T: int) -> Any:
        g["W"] = g["W"] + rng.standard_normal(g["W"].shape)
        return g

    d = _check(change, cases=1)["W"].diagnosis
    assert d is not None and d.cause == "unknown" and d.confidence == "none"
    assert d.alternatives and d.evidence.startswith("closest")


def test_diagnose_skips_candidates_equal_to_the_reference() -> None:
    ref = np.arange(6.0).reshape(2, 3)
    got = -ref
    candidates = [Candidate("zero", "same as reference", ref.copy()),
                  Candidate("negated", "sign", -ref)]
    d = diagnose(got, ref, candidates, atol=1e-12, rtol=1e-12)
    assert d.cause == "negated" and d.residual == 0
    assert [a[0] for a in d.alternatives] == ["negated"]


def test_every_cause_has_a_hint_and_a_stable_identifier() -> None:
    assert set(CAUSES) == set(HINTS) == {
        "transposed", "negated", "scaled", "local_only", "truncated", "off_by_one_state",
        "wrong_activation_derivative", "clipped", "zero", "missing_accumulation", "swapped",
        "gates_permuted", "directions_swapped", "layers_swapped", "unknown",
        "wrong_gate_derivative", "cell_state_path", "forget_gate", "output_gate",
        "update_gate", "reset_gate", "gate_bias_one_step", "gate_values_swapped",
    }
    assert all(HINTS[cause] for cause in CAUSES)


def test_summary_names_the_most_common_cause() -> None:
    report = ro.check_gradients(cs231n.make("no_dprev_h"), convention="cs231n", mode="layer")
    assert "Most likely: local_only" in report.summary


def test_britz_truncation_is_named_in_the_tutorials_terms() -> None:
    """Britz's RNNNumpy.bptt as published (bptt_truncate = 4): each output's gradient
    reaches its own step and the 4 before it, k = 5; with no truncation it passes."""
    assert ro.check_gradients(britz.make(10_000), convention=britz.BRITZ, spec=britz.SPEC).passed
    report = ro.check_gradients(britz.make(4), convention=britz.BRITZ, spec=britz.SPEC)
    d = report["W"].diagnosis
    assert d is not None and d.cause == "truncated" and d.params["k"] == 5
    assert "bptt_truncate = 4 in Britz's RNNNumpy.bptt" in d.detail
