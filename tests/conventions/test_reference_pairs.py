"""The REFERENCES.md test pairs and seed 001's Kronecker factors.

J is computed by an independent method (central differences, torch.func.jacrev,
jax.jacrev), converted with ``conventions.to_layout`` and compared with the closed form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

from conventions import ConventionError, Diagonal, Identity, Kron, to_layout, vec

n_, m_, p_, q_ = 4, 3, 3, 5


@contextmanager
def jacobian_maker(how: str) -> Iterator[Callable[[Callable[[Any], Any], np.ndarray], np.ndarray]]:
    """Yield ``jac(f, x) -> J`` (shape f(x).shape + x.shape, NumPy float64)."""
    if how == "fd":

        def fd(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
            y0 = np.asarray(f(x))
            J = np.zeros(y0.shape + x.shape)
            h = 1e-5
            for idx in np.ndindex(*x.shape):
                e = np.zeros_like(x)
                e[idx] = h
                J[(..., *idx)] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
            return J

        yield fd
    elif how == "torch":
        torch = pytest.importorskip("torch")
        yield lambda f, x: torch.func.jacrev(f)(torch.tensor(x)).numpy()
    else:
        jax = pytest.importorskip("jax")
        with jax.enable_x64(True):
            yield lambda f, x: np.asarray(jax.jacrev(f)(jax.numpy.asarray(x)))


TOL = {"fd": {"rtol": 1e-7, "atol": 1e-8}, "torch": {"rtol": 1e-12, "atol": 1e-12}}
TOL["jax"] = TOL["torch"]
HOW = ["fd", "torch", "jax"]


def lift(how: str, *arrays: np.ndarray) -> list[Any]:
    """The constants of a test function in the differentiating library."""
    if how == "torch":
        import torch

        return [torch.tensor(a) for a in arrays]
    if how == "jax":
        import jax.numpy as jnp

        return [jnp.asarray(a) for a in arrays]
    return list(arrays)


@pytest.mark.parametrize("how", HOW)
def test_a_transpose_x(how: str) -> None:
    """∂(aᵀx)/∂x: numerator aᵀ (1×n), denominator a (n×1)."""
    rng = np.random.default_rng(0)
    a, x = rng.standard_normal(n_), rng.standard_normal(n_)
    with jacobian_maker(how) as jac:
        (ac,) = lift(how, a)
        J = jac(lambda x: (ac * x).sum(), x)
    kw: dict[str, Any] = {"out_shape": (), "in_shape": (n_,)}
    np.testing.assert_allclose(to_layout(J, "numerator", **kw), a[None, :], **TOL[how])
    np.testing.assert_allclose(to_layout(J, "denominator", **kw), a[:, None], **TOL[how])


@pytest.mark.parametrize("how", HOW)
def test_A_x(how: str) -> None:
    """∂(Ax)/∂x: numerator A (m×n), denominator Aᵀ."""
    rng = np.random.default_rng(1)
    A, x = rng.standard_normal((m_, n_)), rng.standard_normal(n_)
    with jacobian_maker(how) as jac:
        (Ac,) = lift(how, A)
        J = jac(lambda x: Ac @ x, x)
    kw: dict[str, Any] = {"out_shape": (m_,), "in_shape": (n_,)}
    np.testing.assert_allclose(to_layout(J, "numerator", **kw), A, **TOL[how])
    np.testing.assert_allclose(to_layout(J, "denominator", **kw), A.T, **TOL[how])
    np.testing.assert_allclose(to_layout(J, "mixed", **kw), A, **TOL[how])


@pytest.mark.parametrize("how", HOW)
def test_x_transpose_A_x(how: str) -> None:
    """∂(xᵀAx)/∂x: numerator xᵀ(A+Aᵀ), denominator (A+Aᵀ)x."""
    rng = np.random.default_rng(2)
    A, x = rng.standard_normal((n_, n_)), rng.standard_normal(n_)
    with jacobian_maker(how) as jac:
        (Ac,) = lift(how, A)
        J = jac(lambda x: x @ (Ac @ x), x)
    kw: dict[str, Any] = {"out_shape": (), "in_shape": (n_,)}
    np.testing.assert_allclose(
        to_layout(J, "numerator", **kw), (x @ (A + A.T))[None, :], **TOL[how]
    )
    np.testing.assert_allclose(
        to_layout(J, "denominator", **kw), ((A + A.T) @ x)[:, None], **TOL[how]
    )


@pytest.mark.parametrize("how", HOW)
def test_a_transpose_X_b(how: str) -> None:
    """∂(aᵀXb)/∂X for X p×q: numerator b aᵀ (q×p), denominator a bᵀ (p×q)."""
    rng = np.random.default_rng(3)
    a, X, b = rng.standard_normal(p_), rng.standard_normal((p_, q_)), rng.standard_normal(q_)
    with jacobian_maker(how) as jac:
        ac, bc = lift(how, a, b)
        J = jac(lambda X: ac @ (X @ bc), X)
    kw: dict[str, Any] = {"out_shape": (), "in_shape": (p_, q_)}
    num, den = to_layout(J, "numerator", **kw), to_layout(J, "denominator", **kw)
    assert num.shape == (q_, p_) and den.shape == (p_, q_)
    np.testing.assert_allclose(num, np.outer(b, a), **TOL[how])
    np.testing.assert_allclose(den, np.outer(a, b), **TOL[how])
    np.testing.assert_allclose(to_layout(J, "mixed", **kw), np.outer(a, b), **TOL[how])


@pytest.mark.parametrize("how", HOW)
def test_trace_A_X(how: str) -> None:
    """∂tr(AX)/∂X for X p×q, A q×p: numerator A, denominator Aᵀ."""
    rng = np.random.default_rng(4)
    A, X = rng.standard_normal((q_, p_)), rng.standard_normal((p_, q_))
    with jacobian_maker(how) as jac:
        (Ac,) = lift(how, A)
        J = jac(lambda X: (Ac * X.T).sum(), X)  # tr(AX) = Σ_ij A_ij X_ji
    kw: dict[str, Any] = {"out_shape": (), "in_shape": (p_, q_)}
    np.testing.assert_allclose(to_layout(J, "numerator", **kw), A, **TOL[how])
    np.testing.assert_allclose(to_layout(J, "denominator", **kw), A.T, **TOL[how])


@pytest.mark.parametrize("how", HOW)
def test_chain_rule_order(how: str) -> None:
    """numerator ∂z/∂x = (∂z/∂y)(∂y/∂x); denominator ∂z/∂x = (∂y/∂x)(∂z/∂y)."""
    rng = np.random.default_rng(5)
    A, B, x = rng.standard_normal((m_, n_)), rng.standard_normal((2, m_)), rng.standard_normal(n_)
    with jacobian_maker(how) as jac:
        Ac, Bc = lift(how, A, B)
        Jy = jac(lambda x: (Ac @ x) ** 3, x)
        Jz = jac(lambda y: Bc @ array_namespace(y).sin(y), (A @ x) ** 3)
        Jzx = jac(lambda x: Bc @ array_namespace(x).sin((Ac @ x) ** 3), x)

    def lay(J: np.ndarray, layout: str, o: int, i: int) -> np.ndarray:
        return to_layout(J, layout, out_shape=(o,), in_shape=(i,))

    np.testing.assert_allclose(
        lay(Jz, "numerator", 2, m_) @ lay(Jy, "numerator", m_, n_),
        lay(Jzx, "numerator", 2, n_),
        **TOL[how],
    )
    np.testing.assert_allclose(
        lay(Jy, "denominator", m_, n_) @ lay(Jz, "denominator", 2, m_),
        lay(Jzx, "denominator", 2, n_),
        **TOL[how],
    )
    np.testing.assert_allclose(np.tensordot(Jz, Jy, axes=1), Jzx, **TOL[how])


# ---- seed 001 -------------------------------------------------------------------------------
n_x, n_h = 3, 4


@pytest.mark.parametrize("how", HOW)
def test_seed001_numerator_f_equals_e1T_kron_I(how: str) -> None:
    """f = W_hxᵀ e₁, w = vec(W_hxᵀ): numerator ∂f/∂w = e₁ᵀ ⊗ I."""
    rng = np.random.default_rng(6)
    W_hx = rng.standard_normal((n_x, n_h))
    e1 = np.eye(n_x)[0]
    with jacobian_maker(how) as jac:
        (e1c,) = lift(how, e1)
        J = jac(lambda M: M @ e1c, W_hx.T)  # derivative by M = W_hxᵀ (n_h × n_x)
    num = to_layout(J, "numerator", out_shape=(n_h,), in_shape=(n_h, n_x), flatten="vec")
    op = Kron(e1[None, :], Identity(n_h))
    assert op.shape == num.shape == (n_h, n_h * n_x)
    np.testing.assert_allclose(num, np.kron(e1[None, :], np.eye(n_h)), **TOL[how])
    np.testing.assert_allclose(num, op.materialize(), **TOL[how])
    # f is linear in w, so the operator reproduces f itself
    np.testing.assert_allclose(op @ vec(W_hx.T), W_hx.T @ e1, rtol=1e-14)


@pytest.mark.parametrize("how", HOW)
def test_seed001_denominator_h1(how: str) -> None:
    """h₁ = tanh(W_hxᵀ e₁ + W_hhᵀ h₀): denominator ∂h₁/∂w = (e₁ ⊗ I) diag(1 − h₁²)."""
    rng = np.random.default_rng(7)
    W_hx, W_hh = rng.standard_normal((n_x, n_h)), rng.standard_normal((n_h, n_h))
    h0 = rng.standard_normal(n_h)
    e1 = np.eye(n_x)[0]
    h1 = np.tanh(W_hx.T @ e1 + W_hh.T @ h0)
    with jacobian_maker(how) as jac:
        e1c, W_hhc, h0c = lift(how, e1, W_hh, h0)
        J = jac(lambda M: array_namespace(M).tanh(M @ e1c + W_hhc.T @ h0c), W_hx.T)
    den = to_layout(J, "denominator", out_shape=(n_h,), in_shape=(n_h, n_x), flatten="vec")
    op = Kron(e1[:, None], Identity(n_h)) @ Diagonal(1 - h1**2)
    assert op.shape == den.shape == (n_h * n_x, n_h)
    np.testing.assert_allclose(den, op.materialize(), **TOL[how])
    np.testing.assert_allclose(
        den, np.kron(e1[:, None], np.eye(n_h)) @ np.diag(1 - h1**2), **TOL[how]
    )
    # numerator layout is the transpose: diag(1 − h₁²)(e₁ᵀ ⊗ I)
    num = to_layout(J, "numerator", out_shape=(n_h,), in_shape=(n_h, n_x), flatten="vec")
    np.testing.assert_allclose(
        num, (Diagonal(1 - h1**2) @ Kron(e1[None, :], Identity(n_h))).materialize(), **TOL[how]
    )


def test_seed001_askers_mixed_form_has_inconsistent_inner_dimensions() -> None:
    """(e₁ᵀ ⊗ I) diag(1 − h₁²) mixes the layouts: (n_h × n_h n_x) @ (n_h × n_h)."""
    e1 = np.eye(n_x)[0]
    h1 = np.tanh(np.random.default_rng(8).standard_normal(n_h))
    with pytest.raises(ConventionError) as info:
        Kron(e1[None, :], Identity(n_h)) @ Diagonal(1 - h1**2)
    message = str(info.value)
    assert f"({n_h}, {n_h * n_x})" in message
    assert f"({n_h}, {n_h})" in message
    assert "inner dimensions" in message
