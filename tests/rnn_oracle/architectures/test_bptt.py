"""Hand BPTT of every architecture against complex step and finite differences.

Complex step (:mod:`rnn_oracle.derivations.complex_step`) differentiates the forward pass
entry by entry, shares no backward code with the hand BPTT and is exact to rounding, so
float64 hand BPTT must agree with it to the project's float64 bound: per array,
``max |a − b| ≤ FLOAT64_RTOL · max(max |b|, R)`` (``FLOAT64_RTOL`` = 1e-10 ≈ 4.5·10⁵ ε;
correct results measure about 1e-15, so a derivation error must be below 1e-10 of the
array's scale to hide).

``R`` is :func:`rounding_scale`, and it matters only where something saturates.
Hypothesis found two such cases (kept below as examples): a softmax with
``ŷ_y = 1 − 1.5e-6`` (relu, ``W_hh ≈ 2.5``), and a tanh unit with ``a ≈ −11`` (an input
of 3.3 times a weight of −2.7). BPTT forms ``ŷ − y`` and ``1 − h²`` as differences of
nearly equal numbers; each carries an absolute rounding error of about ``ε``, so it is
only good to ``ε / 1.5e-6`` or ``ε / 1e-9`` relative — in *any* correct float64
implementation — and so is every gradient built from it (up to 1e-8 relative here).
Complex step forms no such difference. The single-layer policy bounds this with an
analytic term scale (:func:`rnn_oracle.compare.term_scales`); for every architecture and
gated cell the test *measures* it instead: ``R = max |g₆₄ − g_ext| / ε₆₄``, with ``g_ext``
the same hand BPTT run on the same float64 numbers in NumPy's extended precision
(``np.longdouble``: 64-bit mantissa on x86-64, ε ≈ 1e-19), i.e. ``ε R`` is the rounding
error of this float64 computation. A wrong derivation is wrong in both precisions, so
``R`` stays at rounding size and the comparison with complex step still catches it. Where
``longdouble`` is no wider than float64 (e.g. macOS on arm64) ``R`` is 0 and the plain
bound applies. ``R`` is computed only for an array that fails the plain bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from backends import get_backend
from rnn_oracle import discrepancy
from rnn_oracle import strategies as ros
from rnn_oracle.architectures import (
    NetworkCase,
    NetworkSpec,
    bptt,
    make_network_case,
    network_reference,
)
from rnn_oracle.architectures.reference import on_backend, term_magnitude
from rnn_oracle.compare import FD_ESTIMATE_FACTOR, FLOAT64_RTOL

#: Sizes 1–3, two layers at most, T ≤ 6, batch none, 1 or 2, weight scale ≤ 1.5: complex
#: step costs one forward pass per entry, and a two-layer bidirectional LSTM of size 3
#: already has ~560 entries.
SMALL_NETWORKS = ros.network_specs(max_size=3, max_layers=2)
BATCHES = st.one_of(st.none(), st.integers(1, 2))


def network_cases(
    specs: st.SearchStrategy[NetworkSpec] = SMALL_NETWORKS, max_seq_len: int = 6
) -> st.SearchStrategy[NetworkCase]:
    return ros.network_cases(specs, max_seq_len=max_seq_len, batch=BATCHES, max_scale=1.5)


def _describe(case: NetworkCase) -> None:
    note(f"{case.spec!r}; T={case.seq_len}, T_out={case.out_len}, batch={case.batch}, "
         f"seed={case.seed}")


def rounding_scale(case: NetworkCase) -> dict[str, float]:
    """Per array, ``max |g₆₄ − g_ext| / ε₆₄`` (see the module docstring)."""
    numpy = get_backend("numpy")
    on = on_backend(case.astype("float64"), numpy)

    def grads(dtype: Any) -> dict[str, np.ndarray]:
        def cast(a: Any) -> Any:
            return None if a is None else np.asarray(a).astype(dtype)

        _, g = bptt.gradients(case.spec, {n: cast(v) for n, v in on.arrays.items()}, np,
                              targets=cast(on.targets), upstream=cast(on.upstream),
                              out_len=on.out_len)
        return g

    g64, g_ext = grads(np.float64), grads(np.longdouble)
    eps = float(np.finfo(np.float64).eps)
    return {n: float(np.max(np.abs(g64[n] - g_ext[n]))) / eps for n in case.input_names}


def assert_agree_with_complex_step(case: NetworkCase, got: Any, cs: Any, what: str) -> None:
    """``got`` (a NumPy :class:`~rnn_oracle.Reference`) agrees with complex step."""
    assert set(got.grads) == set(case.input_names) == set(cs.grads), what
    # J sums T_out·B terms of size about |w| (or more, when h grows); they may cancel.
    loss_scale = max(abs(float(cs.loss)), term_magnitude(case))
    assert abs(float(got.loss) - float(cs.loss)) <= 1e-12 * loss_scale, (what, got.loss, cs.loss)
    scales: dict[str, float] | None = None
    for name in case.input_names:
        assert got.grads[name].shape == case.arrays[name].shape, (what, name)
        d = discrepancy(got.grads[name], cs.grads[name])
        if d.error <= FLOAT64_RTOL:
            continue
        scales = scales if scales is not None else rounding_scale(case)
        d = discrepancy(got.grads[name], cs.grads[name], scale=scales[name])
        assert d.error <= FLOAT64_RTOL, (what, name, d, f"R = {scales[name]:.3e}")


@given(network_cases())
def test_bptt_matches_complex_step(case: NetworkCase) -> None:
    _describe(case)
    bptt = network_reference(case, "numpy", "bptt").numpy()
    cs = network_reference(case, "numpy", "complex_step").numpy()
    assert_agree_with_complex_step(case, bptt, cs, "bptt")


def _saturated_softmax() -> NetworkCase:
    """ŷ_y ≈ 1 − 1e-9 after three relu steps with W_hh ≈ 2.5."""
    spec = NetworkSpec(architecture="many_to_one", cell="relu", n_x=2, n_h=1, n_y=2,
                       initial_state="zero")
    arrays = {
        "layer0.forward.W_xh": np.array([[-0.69132892, -0.18531567]]),
        "layer0.forward.W_hh": np.array([[2.49558599]]),
        "layer0.forward.b_h": np.array([0.09887216]),
        "W_hy": np.array([[-3.7], [-0.0078049]]),
        "b_y": np.array([-0.09351956, 0.02229473]),
        "layer0.forward.h0": np.zeros(1),
        "inputs": np.array([[-1.60818778, 0.24177188], [0.23538092, 1.57562603],
                            [0.31664502, 0.51054666]]),
    }
    return NetworkCase(spec, arrays, targets=np.array([1]))


def _saturated_tanh() -> NetworkCase:
    """One tanh unit at a ≈ −11: 1 − h² ≈ 1e-9."""
    spec = NetworkSpec(cell="tanh", n_x=2, n_h=1, n_y=2, initial_state="zero")
    arrays = {
        "layer0.forward.W_xh": np.array([[2.16472163, -2.71069211]]),
        "layer0.forward.W_hh": np.array([[0.62714827]]),
        "layer0.forward.b_h": np.array([-0.08516544]),
        "W_hy": np.array([[-0.67897394], [-0.32339574]]),
        "b_y": np.array([-0.30299792, -0.03478986]),
        "layer0.forward.h0": np.zeros(1),
        "inputs": np.array([[-0.86521308, 3.32299952]]),
    }
    return NetworkCase(spec, arrays, targets=np.array([0]))


EXTENDED = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps


@pytest.mark.skipif(not EXTENDED, reason="np.longdouble is no wider than float64 here")
@pytest.mark.parametrize(("make", "name"), [(_saturated_softmax, "W_hy"),
                                            (_saturated_tanh, "layer0.forward.W_xh")])
def test_saturation_needs_the_rounding_scale(make: Any, name: str) -> None:
    """The cases hypothesis found: the plain bound fails for a correct result, the
    measured rounding explains it, and it is not vacuous — in an ordinary case ``R`` is
    within a small factor of the gradients."""
    case = make()
    got = network_reference(case, "numpy", "bptt").numpy()
    cs = network_reference(case, "numpy", "complex_step").numpy()
    assert discrepancy(got.grads[name], cs.grads[name]).error > FLOAT64_RTOL
    r = rounding_scale(case)[name]
    assert r > 1e3 * float(np.max(np.abs(cs.grads[name])))
    assert_agree_with_complex_step(case, got, cs, "bptt")

    ordinary = make_network_case(NetworkSpec(architecture="stacked", cell="gru"), 4, 2, seed=1)
    ordinary_cs = network_reference(ordinary, "numpy", "complex_step").numpy()
    for array, scale in rounding_scale(ordinary).items():
        assert scale <= 100.0 * np.max(np.abs(ordinary_cs.grads[array])), array


@settings(max_examples=8)
@given(network_cases(ros.network_specs(max_size=2, max_layers=2), max_seq_len=4))
def test_finite_differences_agree_with_complex_step_within_their_estimate(
    case: NetworkCase,
) -> None:
    """Finite differences cost four passes per entry: fewer, smaller examples."""
    _describe(case)
    fd = network_reference(case, "numpy", "finite_difference").numpy()
    cs = network_reference(case, "numpy", "complex_step").numpy()
    assert fd.error is not None
    for name in case.input_names:
        err = np.asarray(fd.error[name])
        scale = float(np.max(np.abs(cs.grads[name])))
        # The comparison is only worth something if the differences are accurate.
        assert np.max(err) <= 1e-5 * max(scale, 1.0), f"{name}: FD too inaccurate to judge"
        diff = np.abs(np.asarray(fd.grads[name]) - np.asarray(cs.grads[name]))
        worst = np.unravel_index(np.argmax(diff / (err + 1e-300)), diff.shape)
        assert np.all(diff <= FD_ESTIMATE_FACTOR * err), (
            f"{name}{worst}: |fd - cs| = {diff[worst]:.2e} exceeds "
            f"{FD_ESTIMATE_FACTOR:g} x estimate {err[worst]:.2e}"
        )


def test_every_architecture_cell_head_and_feedback_is_drawable() -> None:
    """The strategy above reaches every option the module claims to cover."""
    from rnn_oracle.architectures.spec import ARCHITECTURES, FEEDBACKS, NETWORK_CELLS
    from rnn_oracle.spec import HEADS, LOSS_SIGNS, REDUCTIONS

    seen: dict[str, set[Any]] = {k: set() for k in
                                 ("arch", "cell", "head", "feedback", "sign", "red", "batch")}

    @settings(max_examples=400, database=None, derandomize=True)
    @given(network_cases())
    def collect(case: NetworkCase) -> None:
        spec = case.spec
        seen["arch"].add(spec.architecture)
        seen["cell"].add(spec.cell)
        seen["head"].add(spec.head)
        seen["feedback"].add(spec.feedback)
        seen["sign"].add(spec.loss_sign)
        seen["red"].update({spec.time_reduction, spec.batch_reduction})
        seen["batch"].add(case.batch is None)

    collect()
    assert seen == {"arch": set(ARCHITECTURES), "cell": set(NETWORK_CELLS),
                    "head": set(HEADS), "feedback": set(FEEDBACKS), "sign": set(LOSS_SIGNS),
                    "red": set(REDUCTIONS), "batch": {True, False}}
