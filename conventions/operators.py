"""Lazy linear operators: Kronecker products, commutation matrices, diagonals, dense matrices.

An operator knows its ``shape``, has a transpose ``.T``, composes with ``@`` (another
operator gives an operator; an array gives the product applied to it: a 1-D vector, or a
2-D matrix column by column), adds, scales, and is turned into a dense array only on
request by :meth:`LinearOperator.materialize`, behind a size guard.

``Kron(A, B) @ vec(X)`` is computed as ``vec(B @ X @ A.T)``; the Kronecker product is never
formed. Every operation uses array-API functions of the arrays it is given, so NumPy, torch
and JAX arrays all work and results come back in the input's own array type; neither torch
nor JAX is imported by this module.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np
from array_api_compat import device as _device

from ._arrays import Array, check_ndim, namespace, shape_of, size_arg
from .errors import ConventionError

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "Commutation",
    "Dense",
    "Diagonal",
    "Identity",
    "Kron",
    "LinearOperator",
    "Product",
    "Scaled",
    "Sum",
    "as_operator",
    "commutation",
]

DEFAULT_MAX_ELEMENTS = 10_000_000
"""Default guard of :meth:`LinearOperator.materialize` (80 MB at float64)."""


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


class LinearOperator:
    """Base class of the lazy operators. Subclasses implement ``_apply``, ``_transpose``.

    ``_apply(V)`` receives a 2-D array of shape ``(n, k)`` and returns ``(m, k)``.
    """

    # Make NumPy return NotImplemented from ``ndarray @ operator`` so that
    # ``LinearOperator.__rmatmul__`` runs instead of NumPy building an object array.
    __array_ufunc__ = None

    def __init__(self, shape: tuple[int, int]) -> None:
        self._shape = (int(shape[0]), int(shape[1]))

    # -- interface ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the matrix this operator stands for."""
        return self._shape

    @property
    def T(self) -> LinearOperator:
        """The transpose, itself a lazy operator."""
        return self._transpose()

    def _transpose(self) -> LinearOperator:
        raise NotImplementedError  # pragma: no cover

    def _apply(self, V: Array) -> Array:
        raise NotImplementedError  # pragma: no cover

    def _arrays(self) -> Iterator[Array]:
        """The arrays this operator holds (to pick a namespace, dtype and device)."""
        return iter(())

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        """A simpler operator equal to ``self @ other``, or ``None`` (shapes already checked)."""
        return None

    # -- application and composition ------------------------------------------------
    def apply(self, x: Array) -> Array:
        """``self @ x`` for a 1-D vector of length ``cols`` or a 2-D ``(cols, k)`` matrix."""
        shape = shape_of("x", x)
        m, n = self.shape
        if len(shape) not in (1, 2) or shape[0] != n:
            raise ConventionError(
                f"x: operator of shape {self.shape} applies to a vector of shape ({n},) or a "
                f"matrix of shape ({n}, k); got shape {shape}"
            )
        xp = namespace("x", x)
        if len(shape) == 1:
            return xp.reshape(self._apply(xp.reshape(x, (n, 1))), (m,))
        return self._apply(x)

    def __matmul__(self, other: object) -> Any:
        if isinstance(other, LinearOperator):
            return compose(self, other)
        return self.apply(other)

    def __rmatmul__(self, other: object) -> Any:
        # x @ op  ==  (op.T @ x.T).T  ; for a 1-D x:  op.T @ x
        shape = shape_of("x", other)
        m = self.shape[0]
        if len(shape) not in (1, 2) or shape[-1] != m:
            raise ConventionError(
                f"x: x @ operator needs x of shape ({m},) or (k, {m}) for an operator of shape "
                f"{self.shape}; got shape {shape}"
            )
        if len(shape) == 1:
            return self.T.apply(other)
        xp = namespace("x", other)
        return xp.permute_dims(self.T.apply(xp.permute_dims(other, (1, 0))), (1, 0))

    def __mul__(self, scalar: object) -> LinearOperator:
        return Scaled(self, scalar)

    __rmul__ = __mul__

    def __neg__(self) -> LinearOperator:
        return Scaled(self, -1)

    def __add__(self, other: object) -> LinearOperator:
        return Sum(self, as_operator(other, name="other"))

    def __radd__(self, other: object) -> LinearOperator:
        return Sum(as_operator(other, name="other"), self)

    def __sub__(self, other: object) -> LinearOperator:
        return Sum(self, Scaled(as_operator(other, name="other"), -1))

    def __rsub__(self, other: object) -> LinearOperator:
        return Sum(as_operator(other, name="other"), Scaled(self, -1))

    # -- materialization ------------------------------------------------------------
    def materialize(
        self, max_elements: int = DEFAULT_MAX_ELEMENTS, *, like: Array | None = None
    ) -> Array:
        """The dense ``(rows, cols)`` array, refused when it would exceed ``max_elements``.

        The array comes in the namespace, dtype and device of the operator's own arrays, or
        of ``like`` when given; an operator holding no array (``Identity``, ``Commutation``)
        gives NumPy float64 unless ``like`` says otherwise.
        """
        limit = size_arg("max_elements", max_elements)
        m, n = self.shape
        if m * n > limit:
            raise ConventionError(
                f"max_elements: materializing an operator of shape ({m}, {n}) needs {m * n:,} "
                f"elements ({_fmt_bytes(8.0 * m * n)} at float64), more than "
                f"max_elements={limit:,}; apply it to vectors with `@` instead, or pass a "
                "larger max_elements"
            )
        held = [like] if like is not None else list(self._arrays())
        if held:
            xp = namespace("like" if like is not None else "operator arrays", *held)
            dtype = xp.result_type(*held)
            eye = xp.eye(n, dtype=dtype, device=_device(held[0]))
        else:
            eye = np.eye(n, dtype=np.float64)
        return self._apply(eye)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"


def compose(left: LinearOperator, right: LinearOperator) -> LinearOperator:
    """``left @ right`` as an operator; inner dimensions must agree."""
    if left.shape[1] != right.shape[0]:
        raise ConventionError(
            f"cannot compose an operator of shape {left.shape} with an operator of shape "
            f"{right.shape}: inner dimensions {left.shape[1]} and {right.shape[0]} differ "
            f"({left!r} @ {right!r})"
        )
    simpler = left._compose(right)
    if simpler is not None:
        return simpler
    if isinstance(right, Identity):
        return left
    return Product(left, right)


def as_operator(x: object, *, name: str = "x") -> LinearOperator:
    """An operator unchanged; a 2-D array wrapped in :class:`Dense`."""
    if isinstance(x, LinearOperator):
        return x
    return Dense(x, name=name)


# ---------------------------------------------------------------------------------------
class Dense(LinearOperator):
    """A 2-D array held as an operator."""

    def __init__(self, M: Array, *, name: str = "M") -> None:
        shape = check_ndim(name, M, 2)
        namespace(name, M)
        super().__init__((shape[0], shape[1]))
        self.array = M

    def _arrays(self) -> Iterator[Array]:
        yield self.array

    def _transpose(self) -> LinearOperator:
        xp = namespace("M", self.array)
        return Dense(xp.permute_dims(self.array, (1, 0)))

    def _apply(self, V: Array) -> Array:
        xp = namespace("operator array and x", self.array, V)
        return xp.matmul(self.array, V)

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        if isinstance(other, Dense):
            xp = namespace("operator arrays", self.array, other.array)
            return Dense(xp.matmul(self.array, other.array))
        return None

    def __repr__(self) -> str:
        return f"Dense({self.shape[0]}x{self.shape[1]})"


class Identity(LinearOperator):
    """The ``n × n`` identity."""

    def __init__(self, n: int) -> None:
        self.n = size_arg("n", n)
        super().__init__((self.n, self.n))

    def _transpose(self) -> LinearOperator:
        return self

    def _apply(self, V: Array) -> Array:
        return V

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        return other

    def __repr__(self) -> str:
        return f"Identity({self.n})"


class Diagonal(LinearOperator):
    """``diag(d)`` for a 1-D array ``d``."""

    def __init__(self, d: Array) -> None:
        (n,) = check_ndim("d", d, 1)
        namespace("d", d)
        super().__init__((n, n))
        self.diagonal = d

    def _arrays(self) -> Iterator[Array]:
        yield self.diagonal

    def _transpose(self) -> LinearOperator:
        return self

    def _apply(self, V: Array) -> Array:
        xp = namespace("diagonal and x", self.diagonal, V)
        return xp.reshape(self.diagonal, (self.shape[0], 1)) * V

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        if isinstance(other, Diagonal):
            namespace("diagonals", self.diagonal, other.diagonal)
            return Diagonal(self.diagonal * other.diagonal)
        return None

    def __repr__(self) -> str:
        return f"Diagonal({self.shape[0]})"


class Commutation(LinearOperator):
    """The commutation matrix ``K(m, n)`` (``mn × mn``), held as a permutation.

    ``K[i*n + j, j*m + i] = 1``, so for ``X`` of shape ``(m, n)``:
    ``K(m, n) @ vec(X) == vec(X.T) == vecr(X)``; ``K(m, n).T == K(n, m) == K(m, n)^{-1}``.
    """

    def __init__(self, m: int, n: int) -> None:
        self.m = size_arg("m", m)
        self.n = size_arg("n", n)
        super().__init__((self.m * self.n, self.m * self.n))

    def permutation(self) -> np.ndarray:
        """Index array ``p`` with ``(K @ v)[r] == v[p[r]]`` (``p[i*n + j] = j*m + i``)."""
        m, n = self.m, self.n
        return (np.arange(n)[None, :] * m + np.arange(m)[:, None]).reshape(-1)

    def _transpose(self) -> LinearOperator:
        return Commutation(self.n, self.m)

    def _apply(self, V: Array) -> Array:
        xp = namespace("x", V)
        k = shape_of("x", V)[1]
        V3 = xp.reshape(V, (self.n, self.m, k))  # V3[j, i, :] = V[j*m + i, :]
        return xp.reshape(xp.permute_dims(V3, (1, 0, 2)), (self.m * self.n, k))

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        if isinstance(other, Commutation) and (other.m, other.n) == (self.n, self.m):
            return Identity(self.m * self.n)
        return None

    def __repr__(self) -> str:
        return f"Commutation({self.m}, {self.n})"


def commutation(m: int, n: int) -> Commutation:
    """The commutation matrix ``K(m, n)`` as a lazy operator (see :class:`Commutation`)."""
    return Commutation(m, n)


class Kron(LinearOperator):
    """The Kronecker product ``A ⊗ B`` of two arrays or operators, never formed.

    Applied to ``vec(X)`` (``X`` of shape ``(B.cols, A.cols)``) it computes
    ``vec(B @ X @ A.T)``, so ``Kron(B.T, A) @ vec(X) == vec(A @ X @ B)``.
    """

    def __init__(self, A: object, B: object) -> None:
        self.A = as_operator(A, name="A")
        self.B = as_operator(B, name="B")
        held = [*self.A._arrays(), *self.B._arrays()]
        if held:
            namespace("A and B", *held)
        (ma, na), (mb, nb) = self.A.shape, self.B.shape
        super().__init__((ma * mb, na * nb))

    def _arrays(self) -> Iterator[Array]:
        yield from self.A._arrays()
        yield from self.B._arrays()

    def _transpose(self) -> LinearOperator:
        return Kron(self.A.T, self.B.T)

    def _apply(self, V: Array) -> Array:
        xp = namespace("x", V)
        (ma, na), (mb, nb) = self.A.shape, self.B.shape
        k = shape_of("x", V)[1]
        # V[c*nb + d, :] is X_k[d, c]: the k-th column holds vec(X_k), X_k of shape (nb, na)
        V3 = xp.reshape(V, (na, nb, k))
        W = xp.reshape(xp.permute_dims(V3, (1, 0, 2)), (nb, na * k))  # [d, (c, k)]
        Y1 = self.B._apply(W)  # (mb, na*k): B @ X_k for every k
        Y1 = xp.reshape(xp.permute_dims(xp.reshape(Y1, (mb, na, k)), (1, 0, 2)), (na, mb * k))
        Y2 = self.A._apply(Y1)  # (ma, mb*k): (B X_k) A^T, stored transposed
        return xp.reshape(Y2, (ma * mb, k))

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        # mixed product (A ⊗ B)(C ⊗ D) = AC ⊗ BD when the factor shapes allow it
        if (
            isinstance(other, Kron)
            and self.A.shape[1] == other.A.shape[0]
            and self.B.shape[1] == other.B.shape[0]
        ):
            return Kron(self.A @ other.A, self.B @ other.B)
        return None

    def __repr__(self) -> str:
        return f"Kron({self.A!r}, {self.B!r})"


class Product(LinearOperator):
    """A composition ``F1 @ F2 @ ... @ Fk`` applied right to left (built by ``@``)."""

    def __init__(self, *factors: LinearOperator) -> None:
        flat: list[LinearOperator] = []
        for f in factors:
            if not isinstance(f, LinearOperator):
                raise ConventionError(
                    f"factors: expected LinearOperator instances, got {type(f).__name__}"
                )
            flat.extend(f.factors if isinstance(f, Product) else [f])
        if not flat:
            raise ConventionError("factors: expected at least one operator, got none")
        for left, right in itertools.pairwise(flat):
            if left.shape[1] != right.shape[0]:
                raise ConventionError(
                    f"cannot compose an operator of shape {left.shape} with an operator of "
                    f"shape {right.shape}: inner dimensions {left.shape[1]} and "
                    f"{right.shape[0]} differ"
                )
        self.factors: tuple[LinearOperator, ...] = tuple(flat)
        super().__init__((flat[0].shape[0], flat[-1].shape[1]))

    def _arrays(self) -> Iterator[Array]:
        for f in self.factors:
            yield from f._arrays()

    def _transpose(self) -> LinearOperator:
        return Product(*(f.T for f in reversed(self.factors)))

    def _apply(self, V: Array) -> Array:
        for f in reversed(self.factors):
            V = f._apply(V)
        return V

    def __repr__(self) -> str:
        return " @ ".join(repr(f) for f in self.factors)


class Scaled(LinearOperator):
    """``scalar * op``."""

    def __init__(self, op: LinearOperator, scalar: object) -> None:
        if not isinstance(op, LinearOperator):
            raise ConventionError(f"op: expected a LinearOperator, got {type(op).__name__}")
        if isinstance(scalar, bool) or not isinstance(scalar, numbers.Number):
            raise ConventionError(
                f"scalar: expected a Python or NumPy number, got {scalar!r} "
                f"({type(scalar).__name__})"
            )
        super().__init__(op.shape)
        self.op = op
        # a NumPy scalar becomes a Python number, which every array library accepts
        item = getattr(scalar, "item", None)
        self.scalar: Any = item() if callable(item) else scalar

    def _arrays(self) -> Iterator[Array]:
        return self.op._arrays()

    def _transpose(self) -> LinearOperator:
        return Scaled(self.op.T, self.scalar)

    def _apply(self, V: Array) -> Array:
        return self.op._apply(V) * self.scalar

    def _compose(self, other: LinearOperator) -> LinearOperator | None:
        return Scaled(self.op @ other, self.scalar)

    def __repr__(self) -> str:
        return f"{self.scalar!r} * {self.op!r}"


class Sum(LinearOperator):
    """``op1 + op2 + ...`` (all of one shape)."""

    def __init__(self, *terms: LinearOperator) -> None:
        flat: list[LinearOperator] = []
        for t in terms:
            if not isinstance(t, LinearOperator):
                raise ConventionError(
                    f"terms: expected LinearOperator instances, got {type(t).__name__}"
                )
            flat.extend(t.terms if isinstance(t, Sum) else [t])
        if not flat:
            raise ConventionError("terms: expected at least one operator, got none")
        for t in flat[1:]:
            if t.shape != flat[0].shape:
                raise ConventionError(
                    f"cannot add an operator of shape {flat[0].shape} and an operator of shape "
                    f"{t.shape}: shapes must be equal"
                )
        self.terms: tuple[LinearOperator, ...] = tuple(flat)
        super().__init__(flat[0].shape)

    def _arrays(self) -> Iterator[Array]:
        for t in self.terms:
            yield from t._arrays()

    def _transpose(self) -> LinearOperator:
        return Sum(*(t.T for t in self.terms))

    def _apply(self, V: Array) -> Array:
        out = self.terms[0]._apply(V)
        for t in self.terms[1:]:
            out = out + t._apply(V)
        return out

    def __repr__(self) -> str:
        return "(" + " + ".join(repr(t) for t in self.terms) + ")"
