"""RNNSpec validation."""

from __future__ import annotations

import pytest

from rnn_oracle import OracleError, RNNSpec

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


@pytest.mark.parametrize("field", ["n_x", "n_h", "n_y"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True, "4"])
def test_sizes_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(OracleError, match=rf"RNNSpec\.{field}: expected a positive integer"):
        RNNSpec(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("cell", "lstm"),
        ("head", "softmax"),
        ("loss_sign", "plus"),
        ("time_reduction", "max"),
        ("batch_reduction", "median"),
        ("inputs", "embedding"),
        ("initial_state", "random"),
    ],
)
def test_unknown_choices_name_the_field_and_the_choices(field: str, bad: str) -> None:
    with pytest.raises(OracleError, match=rf"RNNSpec\.{field}: expected one of .*got '{bad}'"):
        RNNSpec(**{field: bad})  # type: ignore[arg-type]


def test_softmax_needs_two_classes() -> None:
    with pytest.raises(OracleError, match="at least 2 classes"):
        RNNSpec(n_y=1)
    assert RNNSpec(n_y=1, head="linear_mse").n_y == 1


def test_param_shapes_follow_the_canonical_network() -> None:
    spec = RNNSpec(n_x=2, n_h=3, n_y=5)
    assert spec.param_shapes() == {
        "W_hh": (3, 3), "W_xh": (3, 2), "b_h": (3,), "W_hy": (5, 3), "b_y": (5,)
    }
    assert RNNSpec(head="none").param_names == ("W_hh", "W_xh", "b_h")


def test_sign_and_replace() -> None:
    spec = RNNSpec()
    assert spec.sign == 1.0
    assert spec.replace(loss_sign="negated").sign == -1.0
    with pytest.raises(OracleError, match=r"unknown field\(s\) \['colour'\]"):
        spec.replace(colour="red")
    with pytest.raises(OracleError, match=r"RNNSpec\.cell"):
        spec.replace(cell="gru")
