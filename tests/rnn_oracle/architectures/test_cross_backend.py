"""Hand BPTT and autodiff (reverse and forward mode) of every architecture on torch and
JAX against NumPy complex step.

float64: the bound of test_bptt.py — ``max |a − b| ≤ FLOAT64_RTOL · max(max |b|, R)``
per array, ``R`` the measured float64 rounding of the hand BPTT (only consulted where the
plain bound fails: a saturated unit or softmax; see test_bptt's docstring).

float32: the single-layer policy (:func:`rnn_oracle.compare.tolerance`):
``max |a − b| ≤ 32 ε₃₂ √T · S``, against float64 hand BPTT of the same float32-rounded
numbers (itself within 1e-10 of complex step, above). The single-layer term scale ``S``
(:func:`rnn_oracle.compare.term_scales`) is derived for the vanilla recurrence only; for
networks ``S = max(max |g|, R)`` — the rounding ``R`` of a float64 computation, in units
of ``ε₆₄``, *is* the size of the terms the sums cancel, up to the random-walk factor the
policy's ``√T`` already allows for. ``T`` is the longest recurrence (``case.steps``).

JAX compiles every primitive afresh for each new shape (about a second per network
method on a small CPU), so its examples draw architecture, cell, head, feedback, sign,
reductions and seeds freely but their sizes from a fixed pool, and fewer of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_oracle import discrepancy
from rnn_oracle import strategies as ros
from rnn_oracle.architectures import NetworkCase, NetworkSpec, make_network_case, network_reference
from rnn_oracle.compare import tolerance
from rnn_oracle.spec import LOSS_SIGNS, REDUCTIONS
from tests.rnn_oracle.architectures.test_bptt import (
    assert_agree_with_complex_step,
    rounding_scale,
)

METHODS = ("bptt", "autodiff", "autodiff_forward")

#: Sizes 1–3, at most two layers, T ≤ 5: the complex-step baseline costs one forward
#: pass per entry.
TORCH_CASES = ros.network_cases(ros.network_specs(max_size=3, max_layers=2), max_seq_len=5,
                                batch=st.one_of(st.none(), st.integers(1, 2)))

#: The JAX pool: three networks that between them cover the gated cells, both directions,
#: two layers, the encoder → decoder state and feedback, at fixed sizes. Examples vary
#: what does not change a shape: seeds, weight scale, loss sign and reductions.
JAX_SPECS = (
    NetworkSpec(architecture="deep_bidirectional", cell="lstm", n_x=2, n_h=2, n_y=2),
    NetworkSpec(architecture="encoder_decoder", cell="gru", n_x=2, n_h=2, n_y=2,
                head="linear_mse"),
    NetworkSpec(architecture="one_to_many", feedback="output", cell="tanh", n_x=2, n_h=2,
                n_y=2),
)


def jax_cases(specs: tuple[NetworkSpec, ...] = JAX_SPECS) -> st.SearchStrategy[NetworkCase]:
    @st.composite
    def build(draw: st.DrawFn) -> NetworkCase:
        spec = draw(st.sampled_from(specs)).replace(
            loss_sign=draw(st.sampled_from(LOSS_SIGNS)),
            time_reduction=draw(st.sampled_from(REDUCTIONS)),
            batch_reduction=draw(st.sampled_from(REDUCTIONS)),
        )
        return make_network_case(spec, 3, 2, draw(st.integers(0, 2**31 - 1)), out_len=3,
                                 scale=draw(st.floats(0.25, 1.5)))

    return build()


def _float64(case: NetworkCase, backend: str) -> None:
    cs = network_reference(case, "numpy", "complex_step").numpy()
    for method in METHODS:
        got = network_reference(case, backend, method).numpy()
        assert all(g.dtype == np.float64 for g in got.grads.values()), (backend, method)
        assert_agree_with_complex_step(case, got, cs, f"{backend}/{method}")


def _float32_ratios(case32: NetworkCase, backend: str) -> dict[tuple[str, str], float]:
    """Each method's float32 error as a fraction of the tolerance."""
    case64 = case32.astype("float64")
    base = network_reference(case64, "numpy", "bptt").numpy()
    r = rounding_scale(case64)
    tol = tolerance("float32", case32.steps)
    ratios = {}
    for method in METHODS:
        got = network_reference(case32, backend, method).numpy()
        for name in case32.input_names:
            assert got.grads[name].dtype == np.float32, (backend, method, name)
            d = discrepancy(got.grads[name], base.grads[name], scale=r[name])
            ratios[method, name] = d.error / tol
    return ratios


# -- torch ------------------------------------------------------------------------------------
@settings(max_examples=15)  # each example: a complex-step baseline and three torch methods
@given(TORCH_CASES)
def test_float64_torch_agrees_with_complex_step(case: NetworkCase) -> None:
    pytest.importorskip("torch")
    _float64(case, "torch")


@settings(max_examples=15)
@given(TORCH_CASES)
def test_float32_torch_within_the_policy(case: NetworkCase) -> None:
    pytest.importorskip("torch")
    ratios = _float32_ratios(case.astype("float32"), "torch")
    assert all(r <= 1.0 for r in ratios.values()), ratios


# -- JAX --------------------------------------------------------------------------------------
@settings(max_examples=6)  # JAX: compile time, see the module docstring
@given(jax_cases())
def test_float64_jax_agrees_with_complex_step(case: NetworkCase) -> None:
    pytest.importorskip("jax")
    _float64(case, "jax")


@settings(max_examples=3)  # float32 compiles afresh: one network of the pool
@given(jax_cases(JAX_SPECS[1:2]))
def test_float32_jax_within_the_policy(case: NetworkCase) -> None:
    pytest.importorskip("jax")
    ratios = _float32_ratios(case.astype("float32"), "jax")
    assert all(r <= 1.0 for r in ratios.values()), ratios


# -- the float32 policy catches a 1 % error -----------------------------------------------------
def test_float32_policy_catches_a_one_percent_error_in_the_largest_entry() -> None:
    """Not vacuous: in an ordinary case, a 1 % change of any array's largest entry is far
    outside the float32 tolerance (so a correct float32 result passing says something)."""
    for cell in ("tanh", "gru", "lstm"):
        case = make_network_case(NetworkSpec(architecture="deep_bidirectional", cell=cell),
                                 5, 2, seed=2).astype("float32")
        case64 = case.astype("float64")
        base = network_reference(case64, "numpy", "bptt").numpy()
        r = rounding_scale(case64)
        tol = tolerance("float32", case.steps)
        for name in case.input_names:
            g = np.array(base.grads[name])
            index = np.unravel_index(np.argmax(np.abs(g)), g.shape)
            bad = g.copy()
            bad[index] *= 1.01
            assert discrepancy(bad, base.grads[name], scale=r[name]).error > 10 * tol, (
                cell, name)
