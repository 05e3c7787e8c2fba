"""Layouts: round trips, the REFERENCES.md shape table, and agreement with autodiff.

The expected form of every layout is written here independently from NumPy primitives
(``reshape(order="F")``, ``np.transpose``) or computed directly by differentiating a
flattened function, never taken from ``conventions`` itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conventions import (
    FLATTENINGS,
    LAYOUTS,
    ConventionError,
    from_layout,
    layout_shape,
    to_layout,
)
from tests.conventions.frameworks import native_converter

shapes = st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=3).map(tuple)
FLATS: tuple[str | None, ...] = (None, *FLATTENINGS)
CHOICES = [(lay, fl) for lay in LAYOUTS for fl in FLATS]


def expected(
    J: np.ndarray, layout: str, o: tuple[int, ...], i: tuple[int, ...], flatten: str | None
) -> np.ndarray:
    """The spec of each layout, written with NumPy primitives (REFERENCES.md)."""
    P, Q = int(np.prod(o)), int(np.prod(i))
    a, b = len(o), len(i)
    if layout == "tensor":
        return J
    if layout == "input_first":
        return np.transpose(J, tuple(range(a, a + b)) + tuple(range(a)))
    if layout == "magnus_neudecker":
        return J.reshape((P, Q), order="F")
    if layout == "row_major":
        return J.reshape((P, Q), order="C")
    if layout == "mixed" and a == 0:
        return J if flatten is None else J.reshape(-1, order="F" if flatten == "vec" else "C")
    if flatten is not None:
        num = J.reshape((P, Q), order="F" if flatten == "vec" else "C")
    elif a <= 1 and b <= 1:
        num = J.reshape((o[0] if a else 1, i[0] if b else 1))
    elif a == 0 and b == 2:
        num = J.T
    elif a == 2 and b == 0:
        num = J
    else:
        raise LookupError("undefined")
    return num.T if layout == "denominator" else num


def defined(layout: str, o: tuple[int, ...], i: tuple[int, ...], flatten: str | None) -> bool:
    if flatten is not None and layout not in ("numerator", "denominator", "mixed"):
        return False
    try:
        expected(np.zeros(o + i), layout, o, i, flatten)
    except LookupError:
        return False
    return True


@given(o=shapes, i=shapes, seed=st.integers(0, 2**32 - 1))
def test_every_layout_matches_its_spec_and_round_trips(
    o: tuple[int, ...], i: tuple[int, ...], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    J = rng.standard_normal(o + i)
    keep = J.copy()
    for layout, flatten in CHOICES:
        kw: dict[str, Any] = {"out_shape": o, "in_shape": i, "flatten": flatten}
        if not defined(layout, o, i, flatten):
            with pytest.raises(ConventionError):
                layout_shape(layout, **kw)
            with pytest.raises(ConventionError):
                to_layout(J, layout, **kw)
            continue
        M = to_layout(J, layout, **kw)
        ref = expected(J, layout, o, i, flatten)
        assert M.shape == ref.shape == layout_shape(layout, **kw)
        np.testing.assert_array_equal(M, ref)
        back = from_layout(M, layout, **kw)
        assert back.shape == J.shape
        np.testing.assert_array_equal(back, J)
        M2 = rng.standard_normal(M.shape)
        np.testing.assert_array_equal(to_layout(from_layout(M2, layout, **kw), layout, **kw), M2)
    np.testing.assert_array_equal(J, keep)


@given(o=shapes, i=shapes, seed=st.integers(0, 2**32 - 1))
def test_conversion_between_every_pair_of_layouts(
    o: tuple[int, ...], i: tuple[int, ...], seed: int
) -> None:
    """M in layout 1 -> J -> layout 2 equals the spec of layout 2, for every defined pair."""
    J = np.random.default_rng(seed).standard_normal(o + i)
    usable = [(lay, fl) for lay, fl in CHOICES if defined(lay, o, i, fl)]
    for (l1, f1), (l2, f2) in itertools.product(usable, repeat=2):
        M1 = expected(J, l1, o, i, f1)
        via = from_layout(M1, l1, out_shape=o, in_shape=i, flatten=f1)  # type: ignore[arg-type]
        M2 = to_layout(via, l2, out_shape=o, in_shape=i, flatten=f2)  # type: ignore[arg-type]
        np.testing.assert_array_equal(M2, expected(J, l2, o, i, f2))


# REFERENCES.md table: y in R^m, x in R^n, scalar s, X in R^{p×q}
m, n, p, q = 2, 3, 4, 5


@pytest.mark.parametrize(
    ("name", "o", "i", "numerator", "denominator"),
    [
        ("ds/dx", (), (n,), (1, n), (n, 1)),
        ("dy/ds", (m,), (), (m, 1), (1, m)),
        ("dy/dx", (m,), (n,), (m, n), (n, m)),
        ("ds/dX", (), (p, q), (q, p), (p, q)),
        ("dY/ds", (p, q), (), (p, q), (q, p)),
        ("ds/ds", (), (), (1, 1), (1, 1)),
    ],
)
def test_reference_shape_table(
    name: str,
    o: tuple[int, ...],
    i: tuple[int, ...],
    numerator: tuple[int, int],
    denominator: tuple[int, int],
) -> None:
    assert layout_shape("numerator", out_shape=o, in_shape=i) == numerator, name
    assert layout_shape("denominator", out_shape=o, in_shape=i) == denominator, name
    J = np.random.default_rng(0).standard_normal(o + i)
    num = to_layout(J, "numerator", out_shape=o, in_shape=i)
    den = to_layout(J, "denominator", out_shape=o, in_shape=i)
    np.testing.assert_array_equal(num.T, den)


def test_mixed_is_gradient_shaped_for_scalars_and_jacobian_for_vectors() -> None:
    rng = np.random.default_rng(0)
    G = rng.standard_normal((p, q))
    assert to_layout(G, "mixed", out_shape=(), in_shape=(p, q)) is G or np.array_equal(
        to_layout(G, "mixed", out_shape=(), in_shape=(p, q)), G
    )
    assert layout_shape("mixed", out_shape=(), in_shape=(n,)) == (n,)
    assert layout_shape("mixed", out_shape=(m,), in_shape=(n,)) == (m, n)
    assert layout_shape("mixed", out_shape=(), in_shape=(p, q), flatten="vec") == (p * q,)
    # ds/dX element [j, i] in numerator layout is dS/dX[i, j]
    num = to_layout(G, "numerator", out_shape=(), in_shape=(p, q))
    for a in range(p):
        for b in range(q):
            assert num[b, a] == G[a, b]


@pytest.mark.parametrize(
    ("o", "i"), [((m,), (p, q)), ((p, q), (n,)), ((p, q), (p, q)), ((), (2, 2, 2)), ((2, 2, 2), ())]
)
@pytest.mark.parametrize("layout", ["numerator", "denominator", "mixed"])
def test_ambiguous_requests_name_the_choices(
    o: tuple[int, ...], i: tuple[int, ...], layout: str
) -> None:
    if layout == "mixed" and o == ():
        return  # the gradient of a scalar is defined for any input shape
    J = np.zeros(o + i)
    with pytest.raises(ConventionError) as info:
        to_layout(J, layout, out_shape=o, in_shape=i)
    message = str(info.value)
    for choice in ("flatten='vec'", "flatten='vecr'", "'tensor'", "'input_first'", "ambiguous"):
        assert choice in message
    assert str(o) in message and str(i) in message
    # with a flattening the request is well defined
    for flatten in FLATTENINGS:
        M = to_layout(J, layout, out_shape=o, in_shape=i, flatten=flatten)  # type: ignore[arg-type]
        assert M.shape in {(int(np.prod(o)), int(np.prod(i))), (int(np.prod(i)), int(np.prod(o)))}


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (
            lambda: to_layout(np.zeros((2, 3)), "numerater", out_shape=2, in_shape=3),
            ["layout: expected one of", "'numerator'", "'magnus_neudecker'", "'numerater'"],
        ),
        (
            lambda: to_layout(np.zeros((2, 3)), "numerator", out_shape=2, in_shape=4),
            ["J: expected", "(2, 4)", "got shape (2, 3)"],
        ),
        (
            lambda: to_layout(np.zeros((2, 3)), "tensor", out_shape=(2,), in_shape=(-3,)),
            ["in_shape[0]: expected a non-negative integer, got -3"],
        ),
        (
            lambda: to_layout(np.zeros((2, 3)), "tensor", out_shape="ab", in_shape=(3,)),
            ["out_shape: expected a tuple of non-negative ints"],
        ),
        (
            lambda: to_layout(np.zeros((2, 3)), "numerator", out_shape=2, in_shape=3, flatten="F"),
            ["flatten: expected None, 'vec'", "'vecr'", "'F'"],
        ),
        (
            lambda: to_layout(
                np.zeros((2, 3)), "magnus_neudecker", out_shape=2, in_shape=3, flatten="vec"
            ),
            ["flatten: applies only to layouts", "'magnus_neudecker'"],
        ),
        (
            lambda: from_layout(np.zeros((2, 3)), "denominator", out_shape=2, in_shape=3),
            ["M: expected shape (3, 2)", "'denominator'", "got shape (2, 3)"],
        ),
        (
            lambda: to_layout([[0.0]], "tensor", out_shape=1, in_shape=1),
            ["J: expected an array with a .shape, got list"],
        ),
    ],
)
def test_bad_input_raises_convention_error(
    call: Callable[[], object], fragments: list[str]
) -> None:
    with pytest.raises(ConventionError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value)


# ---- agreement with an independent differentiation --------------------------------------
SEMANTIC_CASES = [
    ((), ()),
    ((), (3,)),
    ((2,), ()),
    ((2,), (3,)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2,), (3, 2)),
    ((2, 3), (4,)),
    ((2, 3), (3, 2)),
    ((2, 2, 2), (3,)),
    ((), (2, 1, 3)),
]


class Diff:
    """One way of differentiating: central differences on NumPy, torch.func, or JAX."""

    name = "fd"

    def asarray(self, x: np.ndarray) -> Any:
        return x

    def numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def take(self, x: Any, idx: np.ndarray) -> Any:
        return x[idx]

    def jacobian(self, f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        y0 = np.asarray(f(x))
        J = np.zeros(y0.shape + x.shape)
        h = 1e-6
        for idx in np.ndindex(*x.shape):
            e = np.zeros_like(x)
            e[idx] = h
            J[(..., *idx)] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
        return J


class TorchDiff(Diff):
    name = "torch"

    def __init__(self) -> None:
        self.torch = pytest.importorskip("torch")

    def asarray(self, x: np.ndarray) -> Any:
        return self.torch.tensor(x, dtype=self.torch.float64)

    def numpy(self, x: Any) -> np.ndarray:
        return x.detach().numpy()

    def take(self, x: Any, idx: np.ndarray) -> Any:
        return x[self.torch.as_tensor(idx)]

    def jacobian(self, f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
        return self.numpy(self.torch.func.jacrev(f)(self.asarray(x)))


class JaxDiff(Diff):
    name = "jax"

    def __init__(self) -> None:
        self.jax = pytest.importorskip("jax")
        self.jnp = pytest.importorskip("jax.numpy")

    def asarray(self, x: np.ndarray) -> Any:
        return self.jnp.asarray(x, dtype=self.jnp.float64)

    def take(self, x: Any, idx: np.ndarray) -> Any:
        return x[self.jnp.asarray(idx)]

    def jacobian(self, f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
        return np.asarray(self.jax.jacrev(f)(self.asarray(x)))


@contextmanager
def differentiator(name: str) -> Iterator[Diff]:
    if name == "fd":
        yield Diff()
    elif name == "torch":
        yield TorchDiff()
    else:
        d = JaxDiff()
        before = d.jax.config.jax_enable_x64
        with d.jax.enable_x64(True):  # scoped: x64 is restored afterwards
            yield d
        assert d.jax.config.jax_enable_x64 == before


def f_index(shape: tuple[int, ...], order: str) -> np.ndarray:
    """perm with flat_C[perm[k]] = the k-th element in ``order`` ("F" or "C") flattening."""
    size = int(np.prod(shape))
    if shape == ():
        return np.zeros(1, dtype=np.intp)
    return np.ravel_multi_index(np.unravel_index(np.arange(size), shape, order=order), shape)


@pytest.mark.parametrize("how", ["fd", "torch", "jax"])
@pytest.mark.parametrize(("o", "i"), SEMANTIC_CASES)
def test_layouts_agree_with_differentiating_the_flattened_function(
    how: str, o: tuple[int, ...], i: tuple[int, ...]
) -> None:
    """J of f, converted, equals the Jacobian of vec f(unvec w) computed directly."""
    P, Q = int(np.prod(o)), int(np.prod(i))
    rng = np.random.default_rng(0)
    C = rng.standard_normal((P, Q))
    X = rng.standard_normal(i)
    with differentiator(how) as d:
        Cn = d.asarray(C)

        def f_flat(xc: Any) -> Any:  # R^Q (C order) -> R^P (C order), nonlinear
            return (Cn @ xc) * (1.0 + (xc * xc).sum()) + 0.1 * (Cn @ (xc * xc * xc))

        def f(X: Any) -> Any:
            return f_flat(X.reshape(-1)).reshape(o)

        perm_in_F, perm_out_F = f_index(i, "F"), f_index(o, "F")
        inv_in_F = np.argsort(perm_in_F)

        def g_vec(w: Any) -> Any:  # w = vec X  ->  vec f(X)   (column-major both sides)
            return d.take(f_flat(d.take(w, inv_in_F)), perm_out_F)

        J = d.jacobian(f, X)
        assert J.shape == o + i
        MN = d.jacobian(g_vec, X.reshape(-1)[perm_in_F])  # Magnus–Neudecker, directly
        RM = d.jacobian(f_flat, X.reshape(-1))  # row-major, directly
        assert MN.shape == RM.shape == (P, Q)

    def conv(layout: str, flatten: str | None = None) -> np.ndarray:
        return to_layout(J, layout, out_shape=o, in_shape=i, flatten=flatten)  # type: ignore[arg-type]

    tol = {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(conv("magnus_neudecker"), MN, **tol)
    np.testing.assert_allclose(conv("numerator", "vec"), MN, **tol)
    np.testing.assert_allclose(conv("denominator", "vec"), MN.T, **tol)
    np.testing.assert_allclose(conv("row_major"), RM, **tol)
    np.testing.assert_allclose(conv("numerator", "vecr"), RM, **tol)
    np.testing.assert_allclose(conv("denominator", "vecr"), RM.T, **tol)
    if o:
        np.testing.assert_allclose(conv("mixed", "vec"), MN, **tol)
    else:  # the gradient, vec'd / vecr'd
        np.testing.assert_allclose(conv("mixed", "vec"), MN[0], **tol)
        np.testing.assert_allclose(conv("mixed", "vecr"), RM[0], **tol)
    if len(o) <= 1 and len(i) <= 1:  # numerator = Jacobian matrix m×n (1×n, m×1, 1×1)
        np.testing.assert_allclose(conv("numerator"), RM, **tol)
        np.testing.assert_allclose(conv("denominator"), RM.T, **tol)
    if o == () and len(i) == 2:  # ds/dX: numerator q×p = (gradient)^T
        grad = RM[0].reshape(i)
        np.testing.assert_allclose(conv("numerator"), grad.T, **tol)
        np.testing.assert_allclose(conv("denominator"), grad, **tol)
        np.testing.assert_allclose(conv("mixed"), grad, **tol)
    if len(o) == 2 and i == ():  # dY/ds: numerator shaped like Y
        np.testing.assert_allclose(conv("numerator"), RM[:, 0].reshape(o), **tol)
        np.testing.assert_allclose(conv("denominator"), RM[:, 0].reshape(o).T, **tol)


def test_input_first_is_sympy_order() -> None:
    """SymPy's derive_by_array puts the input axes first."""
    sympy = pytest.importorskip("sympy")
    rng = np.random.default_rng(0)
    C = rng.integers(-3, 4, size=(2, 3, 2))  # Y[a, b] = sum_{jk} C[a, j, k]... (Y 2×1, X 3×2)
    Xs = sympy.Matrix(3, 2, lambda r, c: sympy.Symbol(f"x{r}{c}"))
    Y = sympy.Array(
        [
            [sum(int(C[a, r, c]) * Xs[r, c] ** 2 for r in range(3) for c in range(2))]
            for a in range(2)
        ]
    )
    D = sympy.derive_by_array(Y, sympy.Array(Xs))  # shape (3, 2, 2, 1): input axes first
    x0 = rng.standard_normal((3, 2))
    subs = {Xs[r, c]: x0[r, c] for r in range(3) for c in range(2)}
    sym = np.array(D.subs(subs).tolist(), dtype=np.float64).reshape(3, 2, 2, 1)
    J = np.zeros((2, 1, 3, 2))  # out + in, by hand: dY[a,0]/dX[r,c] = 2 C[a,r,c] x[r,c]
    for a in range(2):
        J[a, 0] = 2 * C[a] * x0
    ours = to_layout(J, "input_first", out_shape=(2, 1), in_shape=(3, 2))
    np.testing.assert_allclose(ours, sym, rtol=1e-12)
    np.testing.assert_allclose(
        from_layout(sym, "input_first", out_shape=(2, 1), in_shape=(3, 2)), J, rtol=1e-12
    )


@pytest.mark.parametrize("lib", ["torch", "jax"])
@settings(deadline=None, max_examples=15)
@given(
    o=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    i=st.lists(st.integers(1, 3), max_size=2).map(tuple),
)
def test_layouts_on_torch_and_jax_are_the_same_numbers_and_types(
    lib: str, o: tuple[int, ...], i: tuple[int, ...]
) -> None:
    to_native = native_converter(lib)
    J = np.random.default_rng(1).standard_normal(o + i).astype(np.float32)
    for native in (to_native(J),):
        for layout, flatten in CHOICES:
            if not defined(layout, o, i, flatten):
                continue
            kw: dict[str, Any] = {"out_shape": o, "in_shape": i, "flatten": flatten}
            M = to_layout(native, layout, **kw)
            assert type(M) is type(native)
            np.testing.assert_array_equal(np.asarray(M), to_layout(J, layout, **kw))
            np.testing.assert_array_equal(np.asarray(from_layout(M, layout, **kw)), J)
