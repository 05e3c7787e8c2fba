"""vec, vecr and their inverses against NumPy's own F/C orderings and the index formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conventions import ConventionError, unvec, unvecr, vec, vecr
from tests.conventions.frameworks import native_converter

dims = st.integers(min_value=0, max_value=5)


@given(m=dims, n=dims, seed=st.integers(0, 2**32 - 1))
def test_vec_and_vecr_match_index_formulas_and_numpy_orders(m: int, n: int, seed: int) -> None:
    X = np.random.default_rng(seed).standard_normal((m, n))
    v, r = vec(X), vecr(X)
    assert v.shape == r.shape == (m * n,)
    np.testing.assert_array_equal(v, X.reshape(-1, order="F"))
    np.testing.assert_array_equal(r, X.reshape(-1, order="C"))
    for i in range(m):
        for j in range(n):
            assert v[j * m + i] == X[i, j]
            assert r[i * n + j] == X[i, j]


@given(m=dims, n=dims, seed=st.integers(0, 2**32 - 1))
def test_unvec_inverts_vec_exactly(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    np.testing.assert_array_equal(unvec(vec(X), (m, n)), X)
    np.testing.assert_array_equal(unvecr(vecr(X), (m, n)), X)
    v = rng.standard_normal(m * n)
    np.testing.assert_array_equal(vec(unvec(v, (m, n))), v)
    np.testing.assert_array_equal(vecr(unvecr(v, (m, n))), v)
    np.testing.assert_array_equal(unvec(v, (m, n)), v.reshape((m, n), order="F"))


def test_vec_of_transpose_is_vecr() -> None:
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(vec(X.T), vecr(X))


def test_inputs_are_not_mutated() -> None:
    X = np.arange(6.0).reshape(2, 3)
    keep = X.copy()
    for out in (vec(X), vecr(X)):
        assert out.shape == (6,)
    unvec(vec(X), (2, 3))
    np.testing.assert_array_equal(X, keep)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: vec(np.ones(3)), "X: expected a 2-D array, got shape (3,)"),
        (lambda: vecr(np.ones((2, 2, 2))), "X: expected a 2-D array, got shape (2, 2, 2)"),
        (lambda: vec([[1.0, 2.0]]), "X: expected an array with a .shape, got list"),
        (lambda: unvec(np.ones(6), (4, 2)), "expected length rows*cols = 4*2 = 8"),
        (lambda: unvecr(np.ones(6), (2, -3)), "shape[1]: expected a non-negative integer"),
        (lambda: unvec(np.ones(6), (6,)), "shape: expected (rows, cols), got (6,)"),
        (lambda: unvec(np.ones((6, 1)), (6, 1)), "v: expected a 1-D array"),
        (lambda: unvec(np.ones(6), (2.0, 3)), "shape[0]: expected a non-negative integer"),
    ],
)
def test_bad_input_raises_convention_error(call: object, fragment: str) -> None:
    with pytest.raises(ConventionError) as info:
        call()  # type: ignore[operator]
    assert fragment in str(info.value)


@pytest.mark.parametrize("lib", ["torch", "jax"])
@settings(deadline=None, max_examples=20)
@given(m=st.integers(1, 4), n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_vec_on_torch_and_jax_matches_numpy_and_keeps_type(
    lib: str, m: int, n: int, seed: int
) -> None:
    to_native = native_converter(lib)
    X = np.random.default_rng(seed).standard_normal((m, n)).astype(np.float32)
    for native, to_np in ((to_native(X), np.asarray),):
        for fn, ref in ((vec, X.reshape(-1, order="F")), (vecr, X.reshape(-1))):
            out = fn(native)
            assert type(out) is type(native)
            np.testing.assert_array_equal(to_np(out), ref)
        back = unvec(vec(native), (m, n))
        assert type(back) is type(native)
        np.testing.assert_array_equal(np.asarray(back), X)
        np.testing.assert_array_equal(np.asarray(unvecr(vecr(native), (m, n))), X)
