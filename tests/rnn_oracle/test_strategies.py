"""The public hypothesis strategies produce valid, convention-compatible inputs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

import rnn_oracle as ro
from rnn_oracle import strategies as ros

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


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


@settings(max_examples=60)
@given(ros.network_specs(max_size=3, max_layers=3))
def test_network_specs_are_valid_and_respect_their_bounds(spec: Any) -> None:
    from rnn_oracle.architectures import NetworkSpec
    from rnn_oracle.architectures.spec import MULTI_LAYER

    assert isinstance(spec, NetworkSpec)
    assert 1 <= spec.n_x <= 3 and 1 <= spec.n_h <= 3 and 1 <= spec.n_y <= 3
    assert spec.layers == 1 or (spec.architecture in MULTI_LAYER and 2 <= spec.layers <= 3)
    if spec.feedback != "none":
        assert spec.architecture == "one_to_many"
        assert spec.n_x == (spec.n_y if spec.feedback == "output" else spec.n_h)


@given(ros.network_specs(architectures=("one_to_many",), heads=("none",),
                         feedbacks=("output", "hidden"), cells=("gru",)))
def test_network_specs_never_feed_back_an_output_that_is_not_there(spec: Any) -> None:
    assert spec.feedback == "hidden" and spec.cell == "gru" and spec.n_x == spec.n_h


@settings(max_examples=15)
@given(ros.network_cases(ros.network_specs(architectures=("encoder_decoder",)),
                         max_seq_len=4, dtype="float32"))
def test_network_cases_are_valid_cases(case: Any) -> None:
    from rnn_oracle.architectures import NetworkCase

    assert isinstance(case, NetworkCase) and case.dtype == "float32"
    assert 1 <= case.seq_len <= 4 and 1 <= case.out_len <= 4
    assert case.batch is None or 1 <= case.batch <= 3
