"""The public hypothesis strategies produce valid, convention-compatible inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

import rnn_oracle as ro
from rnn_oracle import strategies as ros


@given(ros.specs(cells=("tanh",), heads=("softmax_ce",), max_size=4))
def test_specs_respect_their_choices(spec: ro.RNNSpec) -> None:
    assert spec.cell == "tanh" and spec.head == "softmax_ce"
    assert 1 <= spec.n_x <= 4 and 2 <= spec.n_y <= 4


@given(ros.cases(ros.specs(heads=("none",)), max_seq_len=5, dtype="float32"))
def test_cases_are_valid_cases(case: ro.Case) -> None:
    assert isinstance(case, ro.Case) and case.dtype == "float32"
    assert 1 <= case.seq_len <= 5 and case.upstream is not None


@given(ros.conventions(["karpathy", "cs231n"]))
def test_conventions(conv: ro.ParamConvention) -> None:
    assert conv.name in ("karpathy", "cs231n")


@settings(max_examples=15)
@given(ros.check_options("karpathy", max_seq_len=6))
def test_check_options_fit_the_convention(kw: dict[str, Any]) -> None:
    assert kw["batch"] is None and kw["spec"].inputs == "indices"
    assert kw["spec"].head in ("softmax_ce", "linear_mse")


@settings(max_examples=15)
@given(ros.check_options("cs231n", mode="layer", max_seq_len=6))
def test_check_options_drive_check_gradients(kw: dict[str, Any]) -> None:
    from tests.rnn_oracle.oracle.corpus import cs231n

    assert kw["batch"] in (1, 2, 3)
    if kw["spec"].cell != "tanh":
        kw["spec"] = kw["spec"].replace(cell="tanh")
    assert ro.check_gradients(cs231n.make(), convention="cs231n", cases=1, **kw).passed
