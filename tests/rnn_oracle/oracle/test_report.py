"""The report: a rich table for people, a dict and JSON for machines."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n, karpathy

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


@pytest.fixture(scope="module")
def failing() -> ro.GradientReport:
    return ro.check_gradients(karpathy.make("no_dhnext"), convention="karpathy")


def test_str_is_a_table_naming_every_gradient(failing: ro.GradientReport) -> None:
    text = str(failing)
    assert text.startswith("rnn-oracle FAIL")
    for name in ("Wxh", "Whh", "bh", "Why", "by", "loss"):
        assert name in text
    assert "local_only" in text and "evidence:" in text and "hint:" in text
    assert "worst at [" in text and "time step" in text


def test_print_goes_through_rich(failing: ro.GradientReport) -> None:
    buffer = io.StringIO()
    failing.print(Console(file=buffer, width=140, no_color=True))
    assert "FAIL" in buffer.getvalue() and "local_only" in buffer.getvalue()


def test_to_dict_and_json_carry_the_diagnosis(failing: ro.GradientReport) -> None:
    data = json.loads(failing.to_json())
    assert data["passed"] is False
    assert data["causes"] == {"Wxh": "local_only", "Whh": "local_only", "bh": "local_only"}
    whh = next(g for g in data["gradients"] if g["name"] == "Whh")
    assert whh["mapping"] == "W_hh" and whh["verdict"] == "wrong"
    assert whh["diagnosis"]["cause"] == "local_only"
    assert whh["diagnosis"]["confidence"] == "exact"
    assert len(whh["worst_index"]) == 2 and isinstance(whh["step"], int)
    assert data["loss"]["passed"] is True
    assert data["spec"]["cell"] == "tanh"


def test_passing_report() -> None:
    report = ro.check_gradients(cs231n.make(), convention="cs231n", mode="layer", cases=1)
    assert report.passed and report.failures == () and report.causes == {}
    assert "PASS" in str(report)
    assert json.loads(report.to_json())["disagreement_starts"] is None
    with pytest.raises(KeyError, match="no gradient 'W'"):
        report["W"]


def test_non_finite_values_are_json_strings() -> None:
    from typing import Any

    import numpy as np

    good = karpathy.make()

    def nan(params: Any, x: Any, y: Any, h0: Any) -> Any:
        loss, g = good(params, x, y, h0)
        return loss, {**g, "by": np.full_like(g["by"], np.inf)}

    data = json.loads(ro.check_gradients(nan, convention="karpathy", cases=1).to_json())
    by = next(g for g in data["gradients"] if g["name"] == "by")
    assert by["verdict"] == "non-finite" and by["value"] == "inf"
