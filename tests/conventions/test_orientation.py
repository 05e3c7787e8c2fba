"""Row ↔ column orientation: y = x W  <->  y_c = W_c x_c with W_c = Wᵀ."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conventions import ConventionError, column_matrix, row_matrix, to_column, to_row
from tests.conventions.frameworks import native_converter

dims = st.integers(min_value=1, max_value=6)
seeds = st.integers(0, 2**32 - 1)


@given(n_in=dims, n_out=dims, seed=seeds)
def test_row_expression_and_column_twin_agree(n_in: int, n_out: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((1, n_in)), rng.standard_normal((n_in, n_out))
    y = x @ W
    W_c, x_c = column_matrix(W), to_column(x)
    assert W_c.shape == (n_out, n_in) and x_c.shape == (n_in, 1)
    y_c = W_c @ x_c
    np.testing.assert_allclose(to_row(y_c), y, rtol=1e-13, atol=1e-13)
    # elementwise: y_c[k] = Σ_j W_c[k, j] x[j] = Σ_j W[j, k] x[j]
    for k in range(n_out):
        assert W_c[k, :].tolist() == W[:, k].tolist()


@given(N=dims, n_in=dims, n_out=dims, seed=seeds)
def test_batch_of_rows(N: int, n_in: int, n_out: int, seed: int) -> None:
    """Y = X W  <->  Y_cᵀ = W_c X_cᵀ: the columns of to_column(X) are the samples."""
    rng = np.random.default_rng(seed)
    X, W = rng.standard_normal((N, n_in)), rng.standard_normal((n_in, n_out))
    cols = to_column(X)
    assert cols.shape == (n_in, N)
    for s in range(N):
        assert cols[:, s].tolist() == X[s, :].tolist()
    np.testing.assert_allclose(column_matrix(W) @ cols, to_column(X @ W), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(to_row(column_matrix(W) @ cols), X @ W, rtol=1e-13, atol=1e-13)


@given(a=dims, b=dims, seed=seeds)
def test_round_trips_are_bitwise_exact(a: int, b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    M, v = rng.standard_normal((a, b)), rng.standard_normal(a)
    keep = M.copy()
    np.testing.assert_array_equal(to_row(to_column(M)), M)
    np.testing.assert_array_equal(to_column(to_row(M)), M)
    np.testing.assert_array_equal(row_matrix(column_matrix(M)), M)
    np.testing.assert_array_equal(column_matrix(row_matrix(M)), M)
    assert to_column(v).shape == (a, 1) and to_row(v).shape == (1, a)
    np.testing.assert_array_equal(to_column(v)[:, 0], v)
    np.testing.assert_array_equal(to_row(v)[0], v)
    np.testing.assert_array_equal(to_column(to_row(v)), to_column(v))
    np.testing.assert_array_equal(M, keep)


def test_gradients_convert_like_their_parameters() -> None:
    """dL/dW_c = (dL/dW)ᵀ, checked by central differences on both forms."""
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((5, 3)), rng.standard_normal((3, 2))

    def loss_row(W: np.ndarray) -> float:
        return float(np.sum(np.tanh(X @ W) ** 2))

    def loss_col(W_c: np.ndarray) -> float:
        return float(np.sum(np.tanh(W_c @ X.T) ** 2))

    def fd_grad(f: Callable[[np.ndarray], float], P: np.ndarray) -> np.ndarray:
        G, h = np.zeros_like(P), 1e-6
        for idx in np.ndindex(*P.shape):
            E = np.zeros_like(P)
            E[idx] = h
            G[idx] = (f(P + E) - f(P - E)) / (2 * h)
        return G

    g_row, g_col = fd_grad(loss_row, W), fd_grad(loss_col, column_matrix(W))
    np.testing.assert_allclose(column_matrix(g_row), g_col, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(row_matrix(g_col), g_row, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: to_column(np.ones((2, 2, 2))), "x: expected a 1-D vector or a 2-D row vector"),
        (lambda: to_row(np.ones(())), "got shape ()"),
        (lambda: column_matrix(np.ones(3)), "W_row: expected a 2-D matrix, got shape (3,)"),
        (
            lambda: row_matrix(np.ones((1, 2, 3))),
            "W_col: expected a 2-D matrix, got shape (1, 2, 3)",
        ),
        (lambda: to_column([1.0, 2.0]), "x: expected an array with a .shape, got list"),
    ],
)
def test_bad_input_raises_convention_error(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ConventionError) as info:
        call()
    assert fragment in str(info.value)


@pytest.mark.parametrize("lib", ["torch", "jax"])
@settings(deadline=None, max_examples=10)
@given(a=dims, b=dims, seed=seeds)
def test_torch_and_jax_keep_their_type(lib: str, a: int, b: int, seed: int) -> None:
    to_native = native_converter(lib)
    M = np.random.default_rng(seed).standard_normal((a, b)).astype(np.float32)
    for native in (to_native(M),):
        for fn in (to_column, to_row, column_matrix, row_matrix):
            out = fn(native)
            assert type(out) is type(native)
            np.testing.assert_array_equal(np.asarray(out), M.T)
        v = native[0]
        assert tuple(to_column(v).shape) == (b, 1)
        np.testing.assert_array_equal(np.asarray(to_row(v)), M[:1])
