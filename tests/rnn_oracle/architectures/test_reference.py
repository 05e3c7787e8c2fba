"""network_reference: its errors name what came, and every method answers in one shape."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnn_oracle import OracleError, RNNSpec, make_case
from rnn_oracle.architectures import (
    NETWORK_METHODS,
    NetworkCase,
    NetworkSpec,
    make_network_case,
    network_reference,
)
from rnn_oracle.derivations import METHODS


@pytest.fixture(scope="module")
def case() -> NetworkCase:
    return make_network_case(NetworkSpec(architecture="bidirectional", n_x=2, n_h=2, n_y=2),
                             3, 2, seed=0)


def test_unknown_method_names_it_and_the_known_ones(case: NetworkCase) -> None:
    with pytest.raises(OracleError) as info:
        network_reference(case, "numpy", "backprop")
    message = str(info.value)
    assert message.startswith("network_reference: unknown method 'backprop'; known methods are ")
    for method in NETWORK_METHODS:
        assert method in message


def test_missing_capability_names_method_capability_and_backend(case: NetworkCase) -> None:
    with pytest.raises(OracleError, match=re.escape(
            "network_reference: method 'autodiff' needs the 'reverse' capability, which "
            "backend 'numpy' lacks")):
        network_reference(case, "numpy", "autodiff")
    with pytest.raises(OracleError, match=re.escape(
            "network_reference: method 'autodiff_forward' needs the 'forward' capability")):
        network_reference(case, "numpy", "autodiff_forward")


def test_complex_step_needs_numpy(case: NetworkCase) -> None:
    pytest.importorskip("torch")
    with pytest.raises(OracleError, match=re.escape(
            "network_reference: method 'complex_step' needs the 'complex' capability, which "
            "backend 'torch' lacks")):
        network_reference(case, "torch", "complex_step")


def test_wrong_case_type_names_it() -> None:
    single = make_case(RNNSpec(), 3)
    with pytest.raises(OracleError, match=re.escape(
            "network_reference: case must be a NetworkCase, got Case")):
        network_reference(single)  # type: ignore[arg-type]
    with pytest.raises(OracleError, match="got dict"):
        network_reference({})  # type: ignore[arg-type]


def test_unknown_backend_names_it(case: NetworkCase) -> None:
    with pytest.raises(OracleError, match=re.escape(
            "network_reference: backend: unknown name 'cupy'; known backends are")):
        network_reference(case, "cupy")


def test_the_methods_are_the_single_layer_ones_plus_layerwise() -> None:
    """Block-by-block variants share the single-layer names (one verify row per variant);
    ``layerwise`` is single-layer ``bptt`` applied block by block."""
    assert set(NETWORK_METHODS) == {*METHODS, "layerwise"}
    for method, (_, capability) in METHODS.items():
        assert NETWORK_METHODS[method] == capability, method


@pytest.mark.parametrize("method", [m for m, c in NETWORK_METHODS.items() if c in (None,
                                                                                   "complex")])
def test_every_numpy_method_answers_every_array(case: NetworkCase, method: str) -> None:
    ref = network_reference(case, "numpy", method)
    assert (ref.method, ref.backend, ref.dtype) == (method, "numpy", "float64")
    assert set(ref.grads) == set(case.input_names)
    for name in case.input_names:
        assert ref.grads[name].shape == case.arrays[name].shape, name
        assert ref.grads[name].dtype == np.float64, name
    if method == "finite_difference":
        assert ref.error is not None and set(ref.error) == set(case.input_names)


def test_float32_cases_answer_in_float32() -> None:
    case32 = make_network_case(NetworkSpec(cell="lstm", head="linear_mse"), 3, seed=1,
                               dtype="float32")
    for method in ("bptt", "finite_difference", "complex_step"):
        ref = network_reference(case32, "numpy", method)
        assert ref.dtype == "float32"
        assert all(np.asarray(g).dtype == np.float32 for g in ref.grads.values()), method


def test_not_applicable_variants_say_so() -> None:
    gated = make_network_case(NetworkSpec(cell="gru"), 3, seed=0)
    for method in ("layerwise", "kronecker", "rtrl"):
        with pytest.raises(OracleError, match=r"^n/a: "):
            network_reference(gated, "numpy", method)
    # The whole-network methods still run.
    assert network_reference(gated, "numpy", "bptt").grads
