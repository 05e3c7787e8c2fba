"""NetworkCase and make_network_case: validation, read-only copies, determinism, casts."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from rnn_oracle import OracleError
from rnn_oracle.architectures import NetworkCase, NetworkSpec, make_network_case

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def _parts(case: NetworkCase) -> dict[str, Any]:
    return {"spec": case.spec, "arrays": dict(case.arrays), "targets": case.targets,
            "upstream": case.upstream}


def _rebuild(case: NetworkCase, **changes: Any) -> NetworkCase:
    return NetworkCase(**{**_parts(case), **changes})


@pytest.fixture
def case() -> NetworkCase:
    return make_network_case(NetworkSpec(architecture="bidirectional", n_x=2, n_h=3, n_y=4),
                             5, 2, seed=7)


def test_spec_and_arrays_types() -> None:
    with pytest.raises(OracleError, match=r"NetworkCase\.spec: expected a NetworkSpec, got dict"):
        NetworkCase({}, {})  # type: ignore[arg-type]
    with pytest.raises(OracleError, match=r"NetworkCase\.arrays: expected a mapping of arrays, "
                                          "got list"):
        NetworkCase(NetworkSpec(), [])  # type: ignore[arg-type]


def test_missing_and_unexpected_arrays_are_named(case: NetworkCase) -> None:
    arrays = dict(case.arrays)
    del arrays["layer0.backward.W_hh"]
    arrays["W_hx"] = np.zeros(3)
    with pytest.raises(OracleError) as info:
        _rebuild(case, arrays=arrays)
    message = str(info.value)
    assert message.startswith("NetworkCase.arrays: expected exactly [")
    assert "missing ['layer0.backward.W_hh'], unexpected ['W_hx']" in message


def test_inputs_dtype_and_shape(case: NetworkCase) -> None:
    ints = np.zeros(case.arrays["inputs"].shape, dtype=np.int64)
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.arrays['inputs']: expected float32 or float64, got int64")):
        _rebuild(case, arrays={**case.arrays, "inputs": ints})
    flat = np.zeros(5)
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.arrays['inputs']: expected shape (T, n_x) or (T, B, n_x) with T ≥ 1, "
            "got (5,)")):
        _rebuild(case, arrays={**case.arrays, "inputs": flat})
    empty = np.zeros((0, 2, 2))
    with pytest.raises(OracleError, match=re.escape("got (0, 2, 2)")):
        _rebuild(case, arrays={**case.arrays, "inputs": empty})


def test_parameter_and_state_shapes_are_checked(case: NetworkCase) -> None:
    arrays = {**case.arrays, "layer0.forward.W_xh": np.zeros((3, 5))}
    with pytest.raises(OracleError, match=re.escape(
            "arrays['layer0.forward.W_xh']: expected shape (3, 2), got (3, 5)")):
        _rebuild(case, arrays=arrays)
    arrays = {**case.arrays, "layer0.backward.h0": np.zeros(3)}  # unbatched h0, batched x
    with pytest.raises(OracleError, match=re.escape(
            "arrays['layer0.backward.h0']: expected shape (2, 3), got (3,)")):
        _rebuild(case, arrays=arrays)
    arrays = {**case.arrays, "inputs": np.zeros((5, 2, 3))}  # n_x is 2
    with pytest.raises(OracleError, match=re.escape(
            "arrays['inputs']: expected shape (5, 2, 2), got (5, 2, 3)")):
        _rebuild(case, arrays=arrays)


def test_non_finite_entries_are_located(case: NetworkCase) -> None:
    w = np.array(case.arrays["W_hy"])
    w[1, 4] = np.nan
    with pytest.raises(OracleError, match=re.escape(
            "arrays['W_hy']: expected finite numbers, got nan at index (1, 4)")):
        _rebuild(case, arrays={**case.arrays, "W_hy": w})


def test_one_to_many_reads_one_input() -> None:
    spec = NetworkSpec(architecture="one_to_many")
    good = make_network_case(spec, 4, seed=0)
    assert good.arrays["inputs"].shape == (1, spec.n_x) and good.out_len == 4
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.arrays['inputs']: one_to_many reads one input, so T must be 1, got "
            "shape (2, 3)")):
        _rebuild(good, arrays={**good.arrays, "inputs": np.zeros((2, 3))})


def test_decoder_inputs_need_a_step() -> None:
    good = make_network_case(NetworkSpec(architecture="encoder_decoder"), 3, seed=0)
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.arrays['decoder_inputs']: expected at least one step, got shape "
            "(0, 3)")):
        _rebuild(good, arrays={**good.arrays, "decoder_inputs": np.zeros((0, 3))})


def test_zero_initial_state_must_be_zero() -> None:
    spec = NetworkSpec(architecture="stacked", cell="lstm", initial_state="zero")
    good = make_network_case(spec, 3, seed=0)
    assert all(not np.any(good.arrays[n]) for n in spec.initial_state_names())
    arrays = {**good.arrays, "layer1.forward.c0": np.full(spec.n_h, 0.5)}
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.arrays['layer1.forward.c0']: spec.initial_state makes it zero but it "
            "has nonzero entries")):
        _rebuild(good, arrays=arrays)


def test_targets_and_upstream_by_head() -> None:
    ce = make_network_case(NetworkSpec(n_y=3), 4, seed=0)
    with pytest.raises(OracleError, match=r"NetworkCase\.targets: softmax_ce needs class "
                                          "indices, got None"):
        _rebuild(ce, targets=None)
    with pytest.raises(OracleError, match=r"class index 3 at position \(1,\) is out of range "
                                          r"\[0, 3\)"):
        _rebuild(ce, targets=np.array([0, 3, 1, 2]))
    with pytest.raises(OracleError, match=r"expected integer class indices of shape \(4,\), "
                                          r"got shape \(3,\)"):
        _rebuild(ce, targets=np.array([0, 1, 2]))
    with pytest.raises(OracleError, match="targets: expected integer class indices, got "
                                          "dtype float64"):
        _rebuild(ce, targets=np.zeros(4))
    with pytest.raises(OracleError, match=r"NetworkCase\.upstream: only head 'none' takes "
                                          "upstream, not 'softmax_ce'"):
        _rebuild(ce, upstream=np.zeros((4, 4)))

    mse = make_network_case(NetworkSpec(head="linear_mse", n_y=2), 4, 3, seed=0)
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.targets: linear_mse needs dense targets of shape (4, 3, 2), got None")):
        _rebuild(mse, targets=None)

    none = make_network_case(NetworkSpec(architecture="bidirectional", head="none", n_h=3),
                             4, seed=0)
    assert none.upstream is not None and none.upstream.shape == (4, 6)  # n_top = 2 n_h
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.upstream: head 'none' needs gradients of shape (4, 6), got None")):
        _rebuild(none, upstream=None)
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.targets: head 'none' takes no targets (give upstream)")):
        _rebuild(none, targets=np.zeros(4, dtype=int))
    with pytest.raises(OracleError, match=re.escape("upstream: expected shape (4, 6), got (4, 3)")):
        _rebuild(none, upstream=np.zeros((4, 3)))


def test_the_head_covers_only_the_steps_it_sees() -> None:
    one = make_network_case(NetworkSpec(architecture="many_to_one"), 5, 2, seed=0)
    assert one.out_len == 1 and one.targets is not None and one.targets.shape == (1, 2)
    with pytest.raises(OracleError, match=r"expected integer class indices of shape \(1, 2\)"):
        _rebuild(one, targets=np.zeros((5, 2), dtype=int))
    ed = make_network_case(NetworkSpec(architecture="encoder_decoder"), 4, seed=0)
    assert (ed.seq_len, ed.out_len, ed.steps) == (4, 5, 9)  # T_y = T_x + 1 by default
    ed2 = make_network_case(NetworkSpec(architecture="encoder_decoder"), 4, seed=0, out_len=2)
    assert ed2.arrays["decoder_inputs"].shape == (2, 3) and ed2.out_len == 2
    otm = make_network_case(NetworkSpec(architecture="one_to_many"), 4, seed=0, out_len=6)
    assert (otm.seq_len, otm.out_len, otm.steps) == (1, 6, 6)
    assert make_network_case(NetworkSpec(architecture="stacked"), 4, seed=0).steps == 4


def test_the_case_keeps_read_only_copies() -> None:
    spec = NetworkSpec(head="none", n_x=2, n_h=3)
    source = make_network_case(spec, 3, seed=1)
    arrays = {n: np.array(v) for n, v in source.arrays.items()}
    upstream = np.array(source.upstream)
    case = NetworkCase(spec, arrays, upstream=upstream)
    before = {n: v.copy() for n, v in case.arrays.items()}
    for v in arrays.values():
        v += 1.0
    upstream += 1.0
    for name, value in case.arrays.items():
        np.testing.assert_array_equal(value, before[name])
        assert not value.flags.writeable, name
        with pytest.raises(ValueError):
            value[...] = 0.0
    assert case.upstream is not None and not case.upstream.flags.writeable
    np.testing.assert_array_equal(case.upstream, source.upstream)
    ce = make_network_case(NetworkSpec(), 3, seed=1)
    assert ce.targets is not None and not ce.targets.flags.writeable


def test_make_network_case_is_deterministic() -> None:
    spec = NetworkSpec(architecture="deep_bidirectional", cell="lstm", head="linear_mse")
    a = make_network_case(spec, 4, 2, seed=3, scale=0.5)
    b = make_network_case(spec, 4, 2, seed=3, scale=0.5)
    c = make_network_case(spec, 4, 2, seed=4, scale=0.5)
    assert a.input_names == b.input_names
    for name in a.input_names:
        assert a.arrays[name].tobytes() == b.arrays[name].tobytes(), name
    assert a.targets is not None and b.targets is not None and c.targets is not None
    assert a.targets.tobytes() == b.targets.tobytes()
    assert any(not np.array_equal(a.arrays[n], c.arrays[n]) for n in a.input_names)
    assert a.seed == 3


def test_make_network_case_scales_weights_by_fan_in() -> None:
    spec = NetworkSpec(architecture="stacked", n_x=2, n_h=50, n_y=3, n_layers=2)
    case = make_network_case(spec, 2, seed=0, scale=2.0)
    w = case.arrays["layer1.forward.W_hh"]
    assert abs(np.std(w) - 2.0 / np.sqrt(50)) < 0.03  # 2500 draws: std within ~2 %
    assert abs(np.std(case.arrays["layer0.forward.b_h"]) - 0.2) < 0.1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seq_len": 0}, "make_network_case: seq_len must be a positive integer, got 0"),
    ({"batch": 0}, "make_network_case: batch must be a positive integer, got 0"),
    ({"out_len": True}, "make_network_case: out_len must be a positive integer, got True"),
    ({"dtype": "float16"}, "make_network_case: dtype must be one of ('float32', 'float64'), "
                           "got 'float16'"),
    ({"seed": -1}, "make_network_case: seed must be a non-negative integer, got -1"),
    ({"scale": float("inf")}, "make_network_case: scale must be a positive finite number, "
                              "got inf"),
])
def test_make_network_case_errors(kwargs: dict[str, Any], message: str) -> None:
    args = {"spec": NetworkSpec(), "seq_len": 3, **kwargs}
    with pytest.raises(OracleError, match=re.escape(message)):
        make_network_case(**args)
    with pytest.raises(OracleError, match="make_network_case: spec must be a NetworkSpec, "
                                          "got str"):
        make_network_case("tanh", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("head", ["softmax_ce", "linear_mse", "none"])
def test_astype_round_trips_through_float32(head: str) -> None:
    spec = NetworkSpec(architecture="encoder_decoder", cell="gru", head=head)
    case = make_network_case(spec, 3, 2, seed=2)
    c32 = case.astype("float32")
    assert c32.dtype == "float32"
    assert all(v.dtype == np.float32 for v in c32.arrays.values())
    if head == "linear_mse":
        assert c32.targets is not None and c32.targets.dtype == np.float32
    if head == "none":
        assert c32.upstream is not None and c32.upstream.dtype == np.float32
    if head == "softmax_ce":
        assert c32.targets is not None and c32.targets.dtype == np.int64
    back = c32.astype("float64")
    for name in case.input_names:
        np.testing.assert_array_equal(back.arrays[name],
                                      case.arrays[name].astype(np.float32).astype(np.float64))
        assert back.arrays[name].dtype == np.float64
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.astype: dtype must be one of ('float32', 'float64'), got 'int8'")):
        case.astype("int8")


def test_with_arrays_replaces_and_revalidates(case: NetworkCase) -> None:
    new = np.ones((3, 3))
    changed = case.with_arrays(**{"layer0.forward.W_hh": new})
    np.testing.assert_array_equal(changed.arrays["layer0.forward.W_hh"], new)
    for name in case.input_names:
        if name != "layer0.forward.W_hh":
            np.testing.assert_array_equal(changed.arrays[name], case.arrays[name])
    assert changed.seed == case.seed and changed.spec == case.spec
    with pytest.raises(OracleError, match=re.escape(
            "NetworkCase.with_arrays: unknown name(s) ['W_hh']; expected some of")):
        case.with_arrays(W_hh=new)
    with pytest.raises(OracleError, match=re.escape(
            "arrays['layer0.forward.W_hh']: expected shape (3, 3), got (3, 2)")):
        case.with_arrays(**{"layer0.forward.W_hh": np.ones((3, 2))})


def test_facts(case: NetworkCase) -> None:
    assert (case.batch, case.dtype, case.seq_len, case.out_len) == (2, "float64", 5, 5)
    assert case.input_names == (*case.spec.param_names, *case.spec.initial_state_names(),
                                "inputs")
    unbatched = make_network_case(NetworkSpec(), 3, seed=0, dtype="float32")
    assert unbatched.batch is None and unbatched.dtype == "float32"


@pytest.mark.parametrize("head", ["softmax_ce", "linear_mse", "none"])
def test_a_coherent_network_case_repeats_one_step_of_data(head: str) -> None:
    spec = NetworkSpec(architecture="stacked", cell="gru", head=head)
    plain = make_network_case(spec, 5, 3, seed=2)
    same = make_network_case(spec, 5, 3, seed=2, coherent=True)
    data = same.targets if head != "none" else same.upstream
    assert data is not None and all(np.array_equal(data[t], data[0]) for t in range(5))
    assert all(np.array_equal(same.arrays[n], plain.arrays[n]) for n in plain.arrays)
