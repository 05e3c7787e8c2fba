"""Every single-layer derivation variant, applied block by block, equals the network's hand
BPTT (itself checked against complex step in test_bptt.py), on every backend; and the
variants refuse, with ``n/a: …``, where they are not defined.

Both sides are float64 computations of the same sums from the same forward pass, so they
agree to rounding: ``FLOAT64_RTOL`` normwise per array (observed: below 1e-14).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_oracle import OracleError, discrepancy
from rnn_oracle import strategies as ros
from rnn_oracle.architectures import (
    NetworkCase,
    NetworkSpec,
    layerwise,
    make_network_case,
    network_reference,
)
from rnn_oracle.architectures.layerwise import METHOD_NAMES, VARIANTS
from rnn_oracle.compare import FLOAT64_RTOL
from rnn_oracle.spec import CELLS as VANILLA

#: Every architecture whose blocks read fixed inputs (one_to_many without feedback).
LAYERED = ros.network_specs(cells=VANILLA, feedbacks=("none",), max_size=3, max_layers=3)
METHODS = tuple(METHOD_NAMES.values())


def layered_cases() -> st.SearchStrategy[NetworkCase]:
    return ros.network_cases(LAYERED, max_seq_len=5, batch=st.one_of(st.none(),
                                                                      st.integers(1, 2)))


def assert_layerwise_equals_bptt(case: NetworkCase, backend: str,
                                 methods: tuple[str, ...] = METHODS) -> None:
    where = f"{case.spec.label}, T={case.seq_len}, T_out={case.out_len}, batch={case.batch}"
    truth = network_reference(case, "numpy", "bptt").numpy()
    for method in methods:
        got = network_reference(case, backend, method).numpy()
        assert (got.method, got.backend) == (method, backend)
        assert set(got.grads) == set(case.input_names), (where, method)
        assert discrepancy(got.loss, truth.loss).error <= 1e-13, (where, method)
        for name in case.input_names:
            assert got.grads[name].dtype == np.float64, (where, method, name)
            d = discrepancy(got.grads[name], truth.grads[name])
            assert d.error <= FLOAT64_RTOL, (where, method, name, d)


@given(layered_cases())
def test_every_variant_layerwise_equals_bptt_numpy(case: NetworkCase) -> None:
    assert_layerwise_equals_bptt(case, "numpy")


@settings(max_examples=10)  # torch's per-call overhead: ~20 block problems per example
@given(layered_cases())
def test_every_variant_layerwise_equals_bptt_torch(case: NetworkCase) -> None:
    pytest.importorskip("torch")
    assert_layerwise_equals_bptt(case, "torch")


#: JAX compiles every primitive afresh for each new shape (seconds per variant on a small
#: CPU), so JAX gets one fixed bidirectional case per variant: both blocks have the same
#: shapes (one compilation), and the glue between blocks — NumPy, the same on every
#: backend — is covered on NumPy and torch above.
JAX_SPEC = NetworkSpec(architecture="bidirectional", cell="tanh", n_x=2, n_h=3, n_y=2,
                       head="softmax_ce", time_reduction="mean")


@pytest.mark.parametrize("method", METHODS)
def test_every_variant_layerwise_equals_bptt_jax(method: str) -> None:
    pytest.importorskip("jax")
    assert_layerwise_equals_bptt(make_network_case(JAX_SPEC, 4, 2, seed=11), "jax", (method,))


# -- the glue, named ----------------------------------------------------------------------------
def test_each_method_runs_its_own_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not bptt under another name: break one single-layer variant and only its network
    method breaks."""
    import importlib

    case = make_network_case(NetworkSpec(architecture="stacked", cell="relu"), 3, seed=0)
    for variant in VARIANTS:
        module = importlib.import_module(f"rnn_oracle.derivations.{variant}")

        def broken(*args: Any, variant: str = variant, **kwargs: Any) -> Any:
            raise RuntimeError(f"{variant} ran")

        with monkeypatch.context() as m:
            m.setattr(module, "gradients", broken)
            for other in VARIANTS:
                method = METHOD_NAMES[other]
                if other == variant:
                    with pytest.raises(RuntimeError, match=f"{variant} ran"):
                        network_reference(case, "numpy", method)
                else:
                    network_reference(case, "numpy", method)


def test_one_to_many_differentiates_the_first_input_only() -> None:
    spec = NetworkSpec(architecture="one_to_many", cell="tanh", n_x=2, n_h=3)
    case = make_network_case(spec, 1, 2, seed=4, out_len=5)
    got = network_reference(case, "numpy", "kronecker").numpy()
    assert got.grads["inputs"].shape == (1, 2, 2)
    cs = network_reference(case, "numpy", "complex_step").numpy()
    assert discrepancy(got.grads["inputs"], cs.grads["inputs"]).error <= FLOAT64_RTOL


# -- n/a ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("method", METHODS)
def test_gated_cells_are_not_applicable(cell: str, method: str) -> None:
    case = make_network_case(NetworkSpec(architecture="stacked", cell=cell), 3, seed=0)
    with pytest.raises(OracleError, match=rf"^n/a: {method} applies the single-layer "
                                          rf"variants, .* cell '{cell}' is gated"):
        network_reference(case, "numpy", method)


@pytest.mark.parametrize("feedback", ["output", "hidden"])
def test_feedback_is_not_applicable(feedback: str) -> None:
    spec = NetworkSpec(architecture="one_to_many", feedback=feedback, n_x=3, n_h=3, n_y=3)
    case = make_network_case(spec, 1, seed=0, out_len=3)
    for method in METHODS:
        with pytest.raises(OracleError, match=rf"^n/a: {method}: one_to_many with feedback "
                                              rf"'{feedback}' feeds the block's step-t output"):
            network_reference(case, "numpy", method)


def test_rtrl_over_budget_is_not_applicable(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnn_oracle.derivations import rtrl

    case = make_network_case(NetworkSpec(architecture="bidirectional", n_h=8), 3, 2, seed=0)
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", 1000)
    with pytest.raises(OracleError, match=r"^n/a: rtrl: the forward sensitivities of block "
                                          r"layer0\.\w+ need about .* over the budget"):
        network_reference(case, "numpy", "rtrl")
    network_reference(case, "numpy", "kronecker")  # the others do not care
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", 2**30)
    network_reference(case, "numpy", "rtrl")


def test_unknown_variant_and_wrong_case() -> None:
    case = make_network_case(NetworkSpec(), 2, seed=0)
    with pytest.raises(OracleError, match=r"^layerwise: unknown variant 'rtrl2'; variants "
                                          r"that apply block by block are bptt, "):
        layerwise.gradients(case, "numpy", "rtrl2")
    with pytest.raises(OracleError, match="layerwise: case must be a NetworkCase, got int"):
        layerwise.gradients(3, "numpy", "bptt")  # type: ignore[arg-type]
    assert layerwise.not_applicable(case, "bptt") is None
