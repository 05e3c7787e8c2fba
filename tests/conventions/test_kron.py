"""Lazy operators and the vec/Kronecker identities, checked against materialized ``np.kron``.

Each identity is checked twice: the lazy operators applied to random vectors and matrices,
and the materialized operators compared with dense NumPy matrices built independently
(``np.kron``, a commutation matrix filled from its index formula).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conventions import (
    Commutation,
    ConventionError,
    Dense,
    Diagonal,
    Identity,
    Kron,
    LinearOperator,
    Product,
    Sum,
    commutation,
    vec,
    vecr,
)

small = st.integers(min_value=1, max_value=4)
seeds = st.integers(0, 2**32 - 1)


def dense_commutation(m: int, n: int) -> np.ndarray:
    """K(m, n) built densely from its definition K[i*n + j, j*m + i] = 1."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0
    return K


def check_operator(op: LinearOperator, dense: np.ndarray, rng: np.random.Generator) -> None:
    """``op`` equals ``dense``: materialized, on a vector, on a matrix, and transposed."""
    assert op.shape == dense.shape
    np.testing.assert_allclose(op.materialize(), dense, rtol=1e-12, atol=1e-12)
    x = rng.standard_normal(dense.shape[1])
    np.testing.assert_allclose(op @ x, dense @ x, rtol=1e-12, atol=1e-12)
    X = rng.standard_normal((dense.shape[1], 3))
    np.testing.assert_allclose(op @ X, dense @ X, rtol=1e-12, atol=1e-12)
    # column by column
    for k in range(3):
        np.testing.assert_allclose((op @ X)[:, k], op @ X[:, k], rtol=1e-12, atol=1e-12)
    y = rng.standard_normal(dense.shape[0])
    np.testing.assert_allclose(op.T @ y, dense.T @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y @ op, y @ dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.T.materialize(), dense.T, rtol=1e-12, atol=1e-12)


@given(ma=small, na=small, mb=small, nb=small, seed=seeds)
def test_kron_equals_np_kron(ma: int, na: int, mb: int, nb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((ma, na)), rng.standard_normal((mb, nb))
    check_operator(Kron(A, B), np.kron(A, B), rng)


@given(m=small, n=small, q=small, p=small, seed=seeds)
def test_vec_AXB_is_BT_kron_A_vec_X(m: int, n: int, q: int, p: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, X, B = (rng.standard_normal(s) for s in ((m, n), (n, q), (q, p)))
    op = Kron(B.T, A)
    np.testing.assert_allclose(op @ vec(X), vec(A @ X @ B), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        np.kron(B.T, A) @ X.reshape(-1, order="F"),
        (A @ X @ B).reshape(-1, order="F"),
        rtol=1e-12,
        atol=1e-12,
    )
    check_operator(op, np.kron(B.T, A), rng)


@given(m=small, n=small, q=small, p=small, seed=seeds)
def test_vecr_AXB_is_A_kron_BT_vecr_X(m: int, n: int, q: int, p: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, X, B = (rng.standard_normal(s) for s in ((m, n), (n, q), (q, p)))
    op = Kron(A, B.T)
    np.testing.assert_allclose(op @ vecr(X), vecr(A @ X @ B), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        np.kron(A, B.T) @ X.reshape(-1), (A @ X @ B).reshape(-1), rtol=1e-12, atol=1e-12
    )
    check_operator(op, np.kron(A, B.T), rng)


def test_the_two_vec_identities_differ() -> None:
    """Mixing up vec and vecr is the commonest silent bug: the operators must disagree."""
    rng = np.random.default_rng(1)
    A, X, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    assert not np.allclose(Kron(A, B.T) @ vec(X), vec(A @ X @ B))


@given(m=small, n=small, seed=seeds)
def test_commutation_matrix(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    K = commutation(m, n)
    assert isinstance(K, Commutation)
    assert K.shape == (m * n, m * n)
    dense = dense_commutation(m, n)
    check_operator(K, dense, rng)
    X = rng.standard_normal((m, n))
    np.testing.assert_array_equal(K @ vec(X), vec(X.T))
    np.testing.assert_array_equal(K @ vec(X), vecr(X))
    # held as a permutation: (K v)[r] = v[p[r]]
    v = rng.standard_normal(m * n)
    np.testing.assert_array_equal((K @ v), v[K.permutation()])
    np.testing.assert_array_equal(dense @ v, v[K.permutation()])
    # K(m, n)^T = K(n, m) = K(m, n)^{-1}
    np.testing.assert_array_equal(K.T.materialize(), dense_commutation(n, m))
    np.testing.assert_array_equal(K.T.materialize(), dense.T)
    np.testing.assert_array_equal(dense_commutation(n, m) @ dense, np.eye(m * n))
    np.testing.assert_array_equal((commutation(n, m) @ K).materialize(), np.eye(m * n))
    np.testing.assert_array_equal((commutation(n, m) @ (K @ v)), v)


@given(m=small, n=small, p=small, q=small, seed=seeds)
def test_commutation_swaps_kronecker_factors(m: int, n: int, p: int, q: int, seed: int) -> None:
    """K(p, m) (A ⊗ B) K(n, q) = B ⊗ A for A m×n, B p×q."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((m, n)), rng.standard_normal((p, q))
    op = commutation(p, m) @ Kron(A, B) @ commutation(n, q)
    check_operator(op, np.kron(B, A), rng)
    np.testing.assert_allclose(
        dense_commutation(p, m) @ np.kron(A, B) @ dense_commutation(n, q),
        np.kron(B, A),
        rtol=1e-12,
    )


@given(
    shapes=st.tuples(small, small, small, small, small, small),
    seed=seeds,
)
def test_mixed_product_simplifies_to_kron(
    shapes: tuple[int, int, int, int, int, int], seed: int
) -> None:
    """(A ⊗ B)(C ⊗ D) = AC ⊗ BD."""
    m, n, k, p, q, r = shapes
    rng = np.random.default_rng(seed)
    A, C = rng.standard_normal((m, n)), rng.standard_normal((n, k))
    B, D = rng.standard_normal((p, q)), rng.standard_normal((q, r))
    composed = Kron(A, B) @ Kron(C, D)
    assert isinstance(composed, Kron)
    check_operator(composed, np.kron(A @ C, B @ D), rng)
    np.testing.assert_allclose(
        Kron(A, B).materialize() @ Kron(C, D).materialize(), np.kron(A @ C, B @ D), rtol=1e-12
    )


def test_mixed_product_without_matching_factors_stays_a_product() -> None:
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))  # A ⊗ B is 8 × 15
    C, D = rng.standard_normal((5, 1)), rng.standard_normal((3, 1))  # C ⊗ D is 15 × 1
    composed = Kron(A, B) @ Kron(C, D)
    assert isinstance(composed, Product)
    check_operator(composed, np.kron(A, B) @ np.kron(C, D), rng)


@given(ma=small, na=small, mb=small, nb=small, seed=seeds)
def test_kron_transpose(ma: int, na: int, mb: int, nb: int, seed: int) -> None:
    """(A ⊗ B)^T = A^T ⊗ B^T."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((ma, na)), rng.standard_normal((mb, nb))
    np.testing.assert_allclose(Kron(A, B).T.materialize(), np.kron(A.T, B.T), rtol=1e-12)
    np.testing.assert_allclose(Kron(A, B).T.materialize(), np.kron(A, B).T, rtol=1e-12)
    assert isinstance(Kron(A, B).T, Kron)


def test_kron_of_operators() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((1, 3))
    d = rng.standard_normal(4)
    check_operator(Kron(a, Identity(4)), np.kron(a, np.eye(4)), rng)
    check_operator(
        Kron(Diagonal(d), commutation(2, 3)), np.kron(np.diag(d), dense_commutation(2, 3)), rng
    )
    check_operator(Kron(Kron(a.T, Identity(2)), Dense(a)), np.kron(np.kron(a.T, np.eye(2)), a), rng)


def test_composites() -> None:
    rng = np.random.default_rng(4)
    M, N = rng.standard_normal((5, 6)), rng.standard_normal((6, 6))
    d = rng.standard_normal(6)
    check_operator(Dense(M), M, rng)
    check_operator(Identity(6), np.eye(6), rng)
    check_operator(Diagonal(d), np.diag(d), rng)
    check_operator(Dense(M) @ Diagonal(d), M @ np.diag(d), rng)
    check_operator(Dense(M) @ Identity(6), M, rng)
    check_operator(Diagonal(d) @ Diagonal(2 * d), np.diag(2 * d * d), rng)
    check_operator(Dense(M) @ commutation(2, 3) @ Dense(N), M @ dense_commutation(2, 3) @ N, rng)
    check_operator(2.5 * Dense(M), 2.5 * M, rng)
    check_operator(Dense(M) * np.float64(-0.5), -0.5 * M, rng)
    check_operator(-Kron(M[:2, :2], N[:3, :3]), -np.kron(M[:2, :2], N[:3, :3]), rng)
    check_operator(
        Dense(N) + Diagonal(d) - commutation(3, 2), N + np.diag(d) - dense_commutation(3, 2), rng
    )
    check_operator(N + Identity(6), N + np.eye(6), rng)
    check_operator(N - Identity(6), N - np.eye(6), rng)
    check_operator(Identity(6) - N, np.eye(6) - N, rng)
    check_operator((2.0 * Dense(M)) @ Dense(N), 2.0 * M @ N, rng)
    check_operator(Sum(Dense(N), Dense(N.T)).T, (N + N.T).T, rng)


def test_lazy_kron_never_forms_the_product() -> None:
    """A 300×300 ⊗ 300×300 operator (8.1e9 entries, 65 GB) applies in milliseconds."""
    rng = np.random.default_rng(5)
    A, B, X = (rng.standard_normal((300, 300)) for _ in range(3))
    op = Kron(B.T, A)
    assert op.shape == (90_000, 90_000)
    np.testing.assert_allclose(op @ vec(X), vec(A @ X @ B), rtol=1e-10, atol=1e-10)
    with pytest.raises(ConventionError) as info:
        op.materialize()
    message = str(info.value)
    assert "(90000, 90000)" in message
    assert "8,100,000,000 elements" in message
    assert "max_elements=10,000,000" in message


def test_materialize_guard_is_explicit() -> None:
    op = Kron(np.ones((2, 3)), np.ones((2, 2)))  # 4 × 6 = 24 elements
    assert op.materialize(max_elements=24).shape == (4, 6)
    with pytest.raises(ConventionError, match=r"\(4, 6\) needs 24 elements .* max_elements=23"):
        op.materialize(max_elements=23)
    with pytest.raises(ConventionError, match="max_elements: expected a non-negative integer"):
        op.materialize(max_elements=-1)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: Kron(np.ones((2, 3)), np.ones((2, 2))) @ np.ones(5), "shape (6,) or a matrix"),
        (lambda: np.ones(5) @ Kron(np.ones((2, 3)), np.ones((2, 2))), "x of shape (4,) or (k, 4)"),
        (
            lambda: Dense(np.ones((2, 3))) @ Dense(np.ones((2, 3))),
            "(2, 3) with an operator of shape (2, 3)",
        ),
        (
            lambda: Kron(np.ones(3), np.ones((2, 2))),
            "A: expected a 2-D array, got shape (3,) (1-D); reshape to (1, 3)",
        ),
        (lambda: Diagonal(np.ones((2, 2))), "d: expected a 1-D array"),
        (lambda: Identity(-1), "n: expected a non-negative integer, got -1"),
        (lambda: commutation(2, 1.5), "n: expected a non-negative integer, got 1.5"),  # type: ignore[arg-type]
        (
            lambda: Dense(np.ones((2, 2))) + Dense(np.ones((3, 3))),
            "cannot add an operator of shape (2, 2)",
        ),
        (lambda: Dense(np.ones((2, 2))) * "2", "scalar: expected a Python or NumPy number"),
        (lambda: Dense([[1.0]]), "M: expected an array with a .shape"),
    ],
)
def test_bad_input_raises_convention_error(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ConventionError) as info:
        call()
    assert fragment in str(info.value)


def test_operators_do_not_mutate_their_inputs() -> None:
    rng = np.random.default_rng(6)
    A, B, x = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal(8)
    keep = [a.copy() for a in (A, B, x)]
    op = Kron(A, B)
    op @ x
    x @ op.T
    op.materialize()
    (op.T @ op).materialize()
    for a, k in zip((A, B, x), keep, strict=True):
        np.testing.assert_array_equal(a, k)


# ---- other array libraries ---------------------------------------------------------------
def _operators(
    rng: np.random.Generator,
) -> list[tuple[str, Callable[..., LinearOperator], list[np.ndarray]]]:
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    M, d = rng.standard_normal((6, 8)), rng.standard_normal(6)
    return [
        ("kron", lambda a, b: Kron(a, b), [A, B]),
        ("kron-identity", lambda a: Kron(a, Identity(4)), [A]),
        ("dense", lambda m: Dense(m), [M]),
        ("diag@dense", lambda e, m: Diagonal(e) @ Dense(m), [d, M]),
        ("commutation@kron", lambda a, b: commutation(2, 3) @ Kron(a, b), [A, B]),
        ("sum", lambda a, b, m: Kron(a, b) + 2.0 * Dense(m), [A, B, M]),
    ]


def _check_library(
    to_native: Callable[[np.ndarray], object], to_numpy: Callable[[object], np.ndarray]
) -> None:
    rng = np.random.default_rng(7)
    for _name, build, arrays in _operators(rng):
        ref = build(*arrays)
        op = build(*(to_native(a) for a in arrays))
        x = rng.standard_normal(ref.shape[1])
        X = rng.standard_normal((ref.shape[1], 2))
        y = rng.standard_normal(ref.shape[0])
        for out, expected in (
            (op @ to_native(x), ref @ x),
            (op @ to_native(X), ref @ X),
            (to_native(y) @ op, y @ ref),
            (op.T @ to_native(y), ref.T @ y),
            (op.materialize(), ref.materialize()),
        ):
            assert type(out) is type(to_native(x))
            np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-12)
    # operators holding no array keep the type of what they are applied to
    v = rng.standard_normal(6)
    out = commutation(2, 3) @ to_native(v)
    assert type(out) is type(to_native(v))
    np.testing.assert_array_equal(to_numpy(out), commutation(2, 3) @ v)
    eye = Identity(3).materialize(like=to_native(v))
    assert type(eye) is type(to_native(v))
    np.testing.assert_array_equal(to_numpy(eye), np.eye(3))


def test_operators_on_torch_arrays() -> None:
    torch = pytest.importorskip("torch")
    _check_library(torch.from_numpy, lambda t: t.numpy())


@settings(deadline=None)
@given(seed=seeds)
def test_operators_on_jax_arrays(seed: int) -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    with jax.enable_x64(True):
        _check_library(jnp.asarray, np.asarray)
        # float32 stays float32
        rng = np.random.default_rng(seed)
        A, B = rng.standard_normal((2, 2)), rng.standard_normal((3, 3))
        op = Kron(jnp.asarray(A, dtype=jnp.float32), jnp.asarray(B, dtype=jnp.float32))
        out = op @ jnp.ones(6, dtype=jnp.float32)
        assert out.dtype == jnp.float32
        # Against the exact result for the float32-rounded factors, entrywise within a few
        # float32 roundings of the terms each entry sums (an entry whose terms cancel is
        # small, so a bound relative to the entry itself would be wrong; hypothesis found
        # one at 1.7e-5 relative).
        A32, B32 = A.astype(np.float32).astype(float), B.astype(np.float32).astype(float)
        exact = np.kron(A32, B32) @ np.ones(6)
        terms = np.kron(np.abs(A32), np.abs(B32)) @ np.ones(6)
        eps32 = float(np.finfo(np.float32).eps)
        assert np.all(np.abs(np.asarray(out, dtype=float) - exact) <= 8 * eps32 * terms)


def test_mixing_libraries_is_refused() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ConventionError, match="one array library"):
        Kron(np.ones((2, 2)), torch.ones(2, 2))
    with pytest.raises(ConventionError, match="one array library"):
        Dense(np.ones((2, 2))) @ torch.ones(2)
