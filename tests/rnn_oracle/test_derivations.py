"""Every derivation variant × every installed backend agrees with complex step.

A failure names the variant, the backend, the array, the worst index and both values.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from backends import available_backends, declared_capabilities
from rnn_oracle import METHODS, discrepancy, make_case, reference, tolerance
from rnn_oracle.compare import term_scales
from tests.strategies import case_args

# Exact methods: compared with complex step at the float64 tolerance.
NUMERICAL = {"finite_difference", "complex_step"}
EXACT = [m for m in METHODS if m not in NUMERICAL]


def _runs_on(method: str, backend: str) -> bool:
    capability = METHODS[method][1]
    return capability is None or capability in declared_capabilities(backend)


PAIRS = [
    (m, b)
    for m in EXACT
    for b in available_backends()
    if _runs_on(m, b)
]


def test_every_variant_has_a_backend() -> None:
    for method in METHODS:
        assert any(_runs_on(method, b) for b in ("numpy", "torch", "jax")), method


def _check_pairs(args: dict, pairs: list[tuple[str, str]]) -> None:
    case = make_case(**args)
    truth = reference(case, method="complex_step").numpy()
    tol = tolerance("float64", case.seq_len)
    scales = term_scales(case)
    for method, backend in pairs:
        result = reference(case, backend=backend, method=method).numpy()
        assert set(result.grads) == set(case.input_names), (method, backend)
        for name in case.input_names:
            d = discrepancy(result.grads[name], truth.grads[name], scale=scales[name])
            assert d.error <= tol, (
                f"variant {method} on {backend}: {name} differs from complex step by "
                f"{d.error:.2e} (> {tol:.0e}); worst at {d.index}: {d.value!r} vs "
                f"{d.expected!r}"
            )
        loss_error = abs(float(result.loss) - float(truth.loss))
        assert loss_error <= 1e-12 * max(1.0, abs(float(truth.loss))), (method, backend)


@given(args=case_args(max_seq_len=30, max_scale=3.0))
def test_every_variant_on_numpy_matches_complex_step(args: dict) -> None:
    _check_pairs(args, [(m, b) for m, b in PAIRS if b == "numpy"])


# torch and JAX run op by op on tiny arrays here (slow per call, and JAX compiles every
# new shape), so they draw from sizes that stay cached, T from 1 to 30, and fewer
# examples; the numpy row above draws any size with the profile's count.
@given(args=case_args(max_scale=3.0, sizes=(3,), seq_lens=(1, 7, 30)))
@settings(max_examples=8)
def test_every_variant_on_torch_and_jax_matches_complex_step(args: dict) -> None:
    _check_pairs(args, [(m, b) for m, b in PAIRS if b != "numpy"])


# Weight scales up to 2: saturated *chaotic* networks (scale ≳ 5) amplify float32
# rounding in the forward pass beyond the policy (see compare.tolerance, "Not covered").
@given(args=case_args(max_seq_len=30, max_scale=2.0))
@settings(max_examples=25)
def test_every_variant_in_float32_is_within_the_float32_policy(args: dict) -> None:
    """float32 results against the float64 complex step of the same numbers, measured
    against the term scale (``compare.tolerance``); NumPy and, where installed, torch
    (JAX's float32 is covered by the cross-backend tests, which share its few shapes)."""
    case = make_case(**args, dtype="float32")
    truth = reference(case.astype("float64"), method="complex_step").numpy()
    tol = tolerance("float32", case.seq_len)
    scales = term_scales(case)
    for method, backend in PAIRS:
        if backend == "jax":
            continue
        result = reference(case, backend=backend, method=method).numpy()
        for name in case.input_names:
            assert result.grads[name].dtype == np.float32, (method, backend, name)
            d = discrepancy(result.grads[name], truth.grads[name], scale=scales[name])
            assert d.error <= tol, (
                f"variant {method} on {backend} (float32): {name} error {d.error:.2e} of the "
                f"term scale (> {tol:.1e}); worst at {d.index}: {d.value!r} vs {d.expected!r}"
            )
