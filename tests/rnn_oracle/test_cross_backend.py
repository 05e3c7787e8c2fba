"""Every backend and every exact method agree on random cases.

Baseline: complex step on NumPy (differentiates nothing by hand and shares no code with
BPTT or autodiff). float64: normwise relative error at most 1e-9. float32: the policy of
:func:`rnn_oracle.compare.tolerance` — ``max |a − b| ≤ 64 ε₃₂ √T · S`` with ``S`` the
array's term scale (:func:`rnn_oracle.compare.term_scales`) — tested both ways: correct
float32 results never fail it, and a 1e-2 relative change of any entry large enough for
the policy to promise detection always fails it.

JAX compiles every primitive afresh for each new array shape (about two seconds a method
on a small CPU), so the JAX examples vary everything but the sizes, which come from
:data:`JAX_SHAPES`; NumPy and torch get fully random sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import rnn_oracle as ro
from backends import available_backends
from rnn_oracle.compare import term_scales, tolerance
from rnn_oracle.spec import CELLS, HEADS, LOSS_SIGNS, REDUCTIONS
from tests.strategies import case_args

FLOAT64_RTOL = 1e-9
HAS_TORCH = "torch" in available_backends()
HAS_JAX = "jax" in available_backends()
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")

TORCH_METHODS = (("torch", "bptt"), ("torch", "autodiff"), ("torch", "autodiff_forward"))
JAX_METHODS = (("jax", "bptt"), ("jax", "autodiff"), ("jax", "autodiff_forward"))

#: The sizes JAX examples use: (T, batch, n_x, n_h, n_y). Shared with test_global_state.
JAX_SHAPES = ((5, 2, 3, 4, 3), (1, None, 2, 1, 2))


def _methods(*groups: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    out = [("numpy", "bptt")]
    for group in groups:
        if group and group[0][0] in available_backends():
            out.extend(group)
    return out


def _baseline(case: ro.Case) -> Any:
    return ro.reference(case.astype("float64"), "numpy", "complex_step").numpy()


def _assert_float64_agree(
    case: ro.Case, methods: list[tuple[str, str]], *, saturating: bool = False
) -> None:
    """Normwise relative error ≤ 1e-9 against complex step. With ``saturating``, relative
    to the term scale instead of the largest entry: ``1 − h²`` of a saturated unit loses
    digits in float64 too (``|a| = 8`` leaves ``1 − h² ≈ 5e-7``, so a relative error of
    ``ε / 5e-7 ≈ 4e-10`` in every term through that unit), and complex step does not."""
    base = _baseline(case)
    scales = term_scales(case) if saturating else dict.fromkeys(case.input_names, 0.0)
    for backend, method in methods:
        got = ro.reference(case, backend, method).numpy()
        loss = ro.discrepancy(got.loss, base.loss)
        assert loss.error <= FLOAT64_RTOL, (backend, method, "loss", loss)
        for name in case.input_names:
            assert got.grads[name].dtype == np.float64, (backend, method, name)
            d = ro.discrepancy(got.grads[name], base.grads[name], scale=scales[name])
            assert d.error <= FLOAT64_RTOL, (backend, method, name, d)


def _float32_errors(case32: ro.Case, methods: list[tuple[str, str]]) -> dict[Any, float]:
    """Each method's error in float32 as a fraction of the policy's tolerance.

    Against float64 hand BPTT of the same (float32-rounded) numbers: its own error
    (≤ 1e-10 relative, checked against complex step by the float64 tests) is nothing
    next to float32 rounding, and it is far cheaper than complex step at T = 50.
    """
    base = ro.reference(case32.astype("float64"), "numpy", "bptt").numpy()
    scales = term_scales(case32)
    tol = tolerance("float32", case32.seq_len)
    ratios = {}
    for backend, method in methods:
        got = ro.reference(case32, backend, method).numpy()
        for name in case32.input_names:
            assert got.grads[name].dtype == np.float32, (backend, method, name)
            d = ro.discrepancy(got.grads[name], base.grads[name], scale=scales[name])
            ratios[backend, method, name] = d.error / tol
    return ratios


def _jax_case_args(shape: tuple[int, int | None, int, int, int]) -> st.SearchStrategy[Any]:
    seq_len, batch, n_x, n_h, n_y = shape
    return case_args().map(
        lambda a: {
            **a,
            "spec": a["spec"].replace(n_x=n_x, n_h=n_h, n_y=n_y),
            "seq_len": seq_len,
            "batch": batch,
        }
    )


# -- float64 ----------------------------------------------------------------------------------
@given(case_args())
def test_float64_numpy_and_torch_agree_with_complex_step(args: dict[str, Any]) -> None:
    _assert_float64_agree(ro.make_case(**args), _methods(TORCH_METHODS))


@needs_jax
@settings(max_examples=8)
@given(st.sampled_from(JAX_SHAPES).flatmap(_jax_case_args))
def test_float64_jax_agrees_with_complex_step(args: dict[str, Any]) -> None:
    _assert_float64_agree(ro.make_case(**args), _methods(JAX_METHODS))


@given(case_args(), st.floats(3.0, 6.0), st.sampled_from(("tanh", "sigmoid")))
def test_float64_saturating_preactivations(
    args: dict[str, Any], scale: float, cell: str
) -> None:
    case = ro.make_case(**{**args, "scale": scale, "spec": args["spec"].replace(cell=cell)})
    _assert_float64_agree(case, _methods(TORCH_METHODS), saturating=True)


@needs_jax
def test_float64_jax_saturating() -> None:
    spec = ro.RNNSpec(cell="tanh", n_x=3, n_h=4, n_y=3, loss_sign="negated")
    case = ro.make_case(spec, 5, 2, seed=11, scale=5.0)
    x = case.inputs @ case.params["W_xh"].T
    assert np.mean(np.abs(x) > 3.0) > 0.2  # the inputs alone push many units into saturation
    _assert_float64_agree(case, _methods(JAX_METHODS), saturating=True)


@pytest.mark.parametrize(
    ("cell", "head", "batch", "reduction", "sign"),
    [
        ("tanh", "softmax_ce", 2, "sum", "standard"),
        ("sigmoid", "linear_mse", None, "mean", "negated"),
        ("relu", "none", 2, "mean", "standard"),
        ("identity", "softmax_ce", None, "sum", "negated"),
    ],
)
def test_float64_fifty_steps(
    cell: str, head: str, batch: int | None, reduction: str, sign: str
) -> None:
    # The sizes of JAX_SHAPES[0] (and its batch on the JAX row): JAX reuses the compiled
    # primitives whose shapes do not involve T.
    spec = ro.RNNSpec(cell=cell, head=head, n_x=3, n_h=4, n_y=3,  # type: ignore[arg-type]
                      time_reduction=reduction, batch_reduction=reduction,  # type: ignore[arg-type]
                      loss_sign=sign)  # type: ignore[arg-type]
    case = ro.make_case(spec, 50, batch, seed=5, scale=0.9)
    # JAX once (the first row), to keep compile time down; torch and NumPy on every row.
    groups = (TORCH_METHODS, JAX_METHODS) if cell == "tanh" else (TORCH_METHODS,)
    _assert_float64_agree(case, _methods(*groups))


def test_every_cell_head_sign_and_reduction_is_drawable() -> None:
    """The strategies can reach every option the tests above claim to cover."""
    from rnn_oracle.strategies import specs

    seen: dict[str, set[str]] = {"cell": set(), "head": set(), "sign": set(), "red": set()}

    @settings(max_examples=200, database=None, derandomize=True)
    @given(specs())
    def collect(spec: ro.RNNSpec) -> None:
        seen["cell"].add(spec.cell)
        seen["head"].add(spec.head)
        seen["sign"].add(spec.loss_sign)
        seen["red"].update({spec.time_reduction, spec.batch_reduction})

    collect()
    assert seen == {"cell": set(CELLS), "head": set(HEADS), "sign": set(LOSS_SIGNS),
                    "red": set(REDUCTIONS)}


# -- float32: no false alarms -------------------------------------------------------------------
@given(case_args())
def test_float32_correct_results_pass(args: dict[str, Any]) -> None:
    case = ro.make_case(**args, dtype="float32")
    ratios = _float32_errors(case, _methods(TORCH_METHODS))
    note(f"worst error / tolerance: {max(ratios.values()):.3f}")
    assert all(r <= 1.0 for r in ratios.values()), ratios


@given(case_args(max_seq_len=3), st.floats(3.0, 6.0), st.sampled_from(("tanh", "sigmoid")))
def test_float32_saturating_results_pass(args: dict[str, Any], scale: float, cell: str) -> None:
    case = ro.make_case(
        **{**args, "scale": scale, "spec": args["spec"].replace(cell=cell)}, dtype="float32"
    )
    ratios = _float32_errors(case, _methods(TORCH_METHODS))
    assert all(r <= 1.0 for r in ratios.values()), ratios


def test_float32_fifty_steps_pass() -> None:
    for seed, cell in enumerate(CELLS):
        spec = ro.RNNSpec(cell=cell, n_x=4, n_h=6, n_y=3)  # type: ignore[arg-type]
        case = ro.make_case(spec, 50, 2, seed=seed, dtype="float32")
        # Forward mode costs one pass per input entry (~500 here); it is checked in float32
        # by the random cases above and at T = 50 in float64.
        ratios = _float32_errors(case, _methods(TORCH_METHODS[:2]))
        assert all(r <= 1.0 for r in ratios.values()), (cell, ratios)


@needs_jax
@settings(max_examples=5)
@given(st.sampled_from(JAX_SHAPES[:1]).flatmap(_jax_case_args))
def test_float32_jax_results_pass(args: dict[str, Any]) -> None:
    case = ro.make_case(**args, dtype="float32")
    ratios = _float32_errors(case, _methods(JAX_METHODS[:2]))
    assert all(r <= 1.0 for r in ratios.values()), ratios


# -- float32: a 1 % error in one entry is always caught --------------------------------------------
DELTA = 1e-2


def detectable(values: np.ndarray, scale: float, seq_len: int) -> np.ndarray:
    """Entries whose ``DELTA`` relative change the float32 policy is guaranteed to catch.

    A correct result may already be off by up to ``tol · S``; the changed entry ``v``
    moves by ``DELTA |v|`` and the divisor grows to at most ``(1 + DELTA) S``. So the
    change is caught for certain when ``DELTA |v| > 2 (1 + DELTA) tol S``.
    """
    tol = tolerance("float32", seq_len)
    return np.abs(values) > 2.0 * (1.0 + DELTA) * tol * scale / DELTA


@needs_torch
@given(case_args(), st.data())
def test_float32_one_percent_change_in_one_entry_is_caught(
    args: dict[str, Any], data: st.DataObject
) -> None:
    case = ro.make_case(**args, dtype="float32")
    base = ro.reference(case.astype("float64"), "numpy", "bptt").numpy()
    scales = term_scales(case)
    tol = tolerance("float32", case.seq_len)
    got = ro.reference(case, "torch", "autodiff").numpy()
    name = data.draw(st.sampled_from(case.input_names), label="array")
    grad = got.grads[name]
    candidates = np.argwhere(detectable(grad, scales[name], case.seq_len))
    # Entries below the threshold are within what float32 rounding can do to a correct
    # result; the policy promises nothing there, and the test does not pretend it does.
    assume(len(candidates) > 0)
    index = tuple(int(i) for i in candidates[data.draw(st.integers(0, len(candidates) - 1))])
    sign = data.draw(st.sampled_from((-1.0, 1.0)), label="sign")
    bad = grad.copy()
    bad[index] = np.float32(grad[index] * (1.0 + sign * DELTA))
    assert ro.discrepancy(grad, base.grads[name], scale=scales[name]).error <= tol
    assert ro.discrepancy(bad, base.grads[name], scale=scales[name]).error > tol, (name, index)


def test_float32_policy_detects_the_largest_entry_of_an_ordinary_case() -> None:
    """Not vacuous: in an ordinary case the largest entry of every array is detectable."""
    case = ro.make_case(ro.RNNSpec(), 8, 2, seed=3, dtype="float32")
    ref = ro.reference(case.astype("float64"), "numpy", "bptt").numpy()
    scales = term_scales(case)
    for name in case.input_names:
        g = ref.grads[name]
        assert detectable(g, scales[name], case.seq_len).any(), name
