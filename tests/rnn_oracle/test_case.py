"""make_case determinism and Case validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from rnn_oracle import Case, OracleError, RNNSpec, make_case
from tests.strategies import case_args

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


@given(case_args())
def test_make_case_is_bitwise_deterministic(args: dict) -> None:
    a, b = make_case(**args), make_case(**args)
    for name, value in a.arrays().items():
        assert value.tobytes() == b.arrays()[name].tobytes(), name
    assert a.inputs.tobytes() == b.inputs.tobytes()
    for x, y in ((a.targets, b.targets), (a.upstream, b.upstream)):
        assert (x is None and y is None) or x.tobytes() == y.tobytes()  # type: ignore[union-attr]


def test_different_seeds_give_different_cases() -> None:
    a, b = make_case(RNNSpec(), 3, seed=1), make_case(RNNSpec(), 3, seed=2)
    assert not np.array_equal(a.params["W_hh"], b.params["W_hh"])


@given(case_args())
def test_shapes_and_dtypes(args: dict) -> None:
    case = make_case(**args, dtype="float32")
    spec, T, B = case.spec, args["seq_len"], args["batch"]
    lead = (T,) if B is None else (T, B)
    assert case.seq_len == T and case.batch == B and case.dtype == "float32"
    assert case.h0.shape == (*lead[1:], spec.n_h)
    if spec.inputs == "indices":
        assert case.inputs.shape == lead and case.inputs.dtype == np.int64
        assert "inputs" not in case.input_names
    else:
        assert case.inputs.shape == (*lead, spec.n_x) and case.inputs.dtype == np.float32
    if spec.initial_state == "zero":
        assert not np.any(case.h0)
    for name, shape in spec.param_shapes().items():
        assert case.params[name].shape == shape and case.params[name].dtype == np.float32


def test_case_arrays_are_read_only_copies() -> None:
    spec = RNNSpec(n_x=2, n_h=3, n_y=2)
    ref = make_case(spec, 2)
    params = {k: np.array(v) for k, v in ref.params.items()}
    inputs = np.array(ref.inputs)
    before = {k: v.copy() for k, v in params.items()}
    case = Case(spec, params, inputs, np.array(ref.h0), targets=np.array(ref.targets))
    params["W_hh"][0, 0] = 42.0
    assert case.params["W_hh"][0, 0] == before["W_hh"][0, 0]
    with pytest.raises(ValueError, match="read-only"):
        case.params["W_hh"][0, 0] = 1.0
    assert np.array_equal(inputs, ref.inputs)


def _valid(spec: RNNSpec, **changes: object) -> dict:
    base = make_case(spec, 3, batch=2)
    kwargs = {
        "spec": spec,
        "params": dict(base.params),
        "inputs": base.inputs,
        "h0": base.h0,
        "targets": base.targets,
        "upstream": base.upstream,
    }
    kwargs.update(changes)
    return kwargs


def test_target_out_of_range_names_the_position() -> None:
    spec = RNNSpec(n_y=3)
    targets = np.zeros((3, 2), dtype=int)
    targets[1, 0] = 3
    message = r"targets: class index 3 at position \(1, 0\).*\[0, 3\)"
    with pytest.raises(OracleError, match=message):
        Case(**_valid(spec, targets=targets))


def test_nan_in_parameters_names_the_parameter_and_index() -> None:
    spec = RNNSpec()
    params = dict(make_case(spec, 3, batch=2).params)
    bad = np.array(params["W_xh"])
    bad[2, 1] = np.nan
    params["W_xh"] = bad
    with pytest.raises(OracleError, match=r"params\['W_xh'\]: expected finite.*\(2, 1\)"):
        Case(**_valid(spec, params=params))


def test_wrong_parameter_shape_states_the_expected_one() -> None:
    spec = RNNSpec(n_x=4, n_h=8)
    params = dict(make_case(spec, 3, batch=2).params)
    params["W_xh"] = np.zeros((4, 8))
    message = r"params\['W_xh'\]: expected shape \(8, 4\), got \(4, 8\)"
    with pytest.raises(OracleError, match=message):
        Case(**_valid(spec, params=params))


def test_missing_and_extra_parameters() -> None:
    spec = RNNSpec()
    params = dict(make_case(spec, 3, batch=2).params)
    params.pop("b_h")
    params["bias"] = np.zeros(8)
    with pytest.raises(OracleError, match=r"missing \['b_h'\], unexpected \['bias'\]"):
        Case(**_valid(spec, params=params))


def test_wrong_h0_and_input_shapes() -> None:
    spec = RNNSpec()
    with pytest.raises(OracleError, match=r"h0: expected shape \(2, 8\), got \(8,\)"):
        Case(**_valid(spec, h0=np.zeros(8)))
    with pytest.raises(OracleError, match=r"inputs: expected shape \(3, 2, 4\), got \(3, 2, 5\)"):
        Case(**_valid(spec, inputs=np.zeros((3, 2, 5))))


def test_one_hot_inputs_must_be_one_hot() -> None:
    spec = RNNSpec(inputs="one_hot")
    with pytest.raises(OracleError, match="not one-hot"):
        Case(**_valid(spec, inputs=np.full((3, 2, 4), 0.25)))


def test_head_specific_data() -> None:
    with pytest.raises(OracleError, match="softmax_ce needs class indices"):
        Case(**_valid(RNNSpec(), targets=None))
    with pytest.raises(OracleError, match="expected integer class indices"):
        Case(**_valid(RNNSpec(), targets=np.zeros((3, 2))))
    message = r"head 'none' needs per-step gradients of shape \(3, 2, 8\)"
    with pytest.raises(OracleError, match=message):
        Case(**_valid(RNNSpec(head="none"), upstream=None))
    with pytest.raises(OracleError, match="only head 'none' takes upstream"):
        Case(**_valid(RNNSpec(), upstream=np.zeros((3, 2, 8))))


def test_zero_initial_state_is_enforced() -> None:
    spec = RNNSpec(initial_state="zero")
    with pytest.raises(OracleError, match="initial_state is 'zero'"):
        Case(**_valid(spec, h0=np.ones((2, 8))))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seq_len": 0}, "seq_len must be a positive integer"),
        ({"batch": 0}, "batch must be None or a positive integer"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"scale": float("nan")}, "scale must be a positive finite number"),
    ],
)
def test_make_case_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"spec": RNNSpec(), "seq_len": 3, **kwargs}
    with pytest.raises(OracleError, match=message):
        make_case(**args)


def test_astype_is_exact_upwards() -> None:
    case = make_case(RNNSpec(), 3, dtype="float32")
    wide = case.astype("float64")
    assert wide.dtype == "float64"
    assert np.array_equal(wide.params["W_hh"], case.params["W_hh"].astype(np.float64))


@pytest.mark.parametrize("head", ["softmax_ce", "linear_mse", "none"])
def test_a_coherent_case_repeats_one_step_of_data(head: str) -> None:
    """The targets (or upstream gradients) are one draw at every step; everything else is
    the case drawn without ``coherent``."""
    spec = RNNSpec(head=head)  # type: ignore[arg-type]
    plain = make_case(spec, 6, 2, seed=4)
    same = make_case(spec, 6, 2, seed=4, coherent=True)
    data = same.targets if head != "none" else same.upstream
    assert data is not None and all(np.array_equal(data[t], data[0]) for t in range(6))
    assert np.array_equal(same.inputs, plain.inputs) and np.array_equal(same.h0, plain.h0)
    assert all(np.array_equal(same.params[n], plain.params[n]) for n in plain.params)
    varied = plain.targets if head != "none" else plain.upstream
    assert varied is not None and not all(np.array_equal(varied[t], varied[0]) for t in range(6))
