"""Typed expression nodes: frozen dataclasses compared structurally.

Every value is a matrix (a scalar is ``1 × 1``, a vector ``n × 1`` or ``1 × n``); the
nodes say *what* is computed, :mod:`.shapes` says with which shapes, :mod:`.evaluate`
computes it. Nodes hold no source positions, so ``parse(render(f)) == f`` compares
mathematics, not spelling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Literal

from .sizes import Size

__all__ = [
    "ELEMENTWISE",
    "FUNCTIONS",
    "Add",
    "Binary",
    "Call",
    "Commutation",
    "Derivative",
    "Equation",
    "Expr",
    "Frobenius",
    "Hadamard",
    "HadamardDiv",
    "Identity",
    "Kron",
    "MatMul",
    "Neg",
    "Num",
    "Ones",
    "Power",
    "Scale",
    "Sub",
    "Sym",
    "Transpose",
    "children",
    "map_children",
    "symbols_of",
    "walk",
]

ELEMENTWISE: tuple[str, ...] = ("tanh", "sigmoid", "exp", "log")
"""Functions applied entry by entry."""

FUNCTIONS: tuple[str, ...] = (*ELEMENTWISE, "softmax", "diag", "vec", "vecr", "tr", "sum")
"""Every one-argument function the formula language knows."""


class Expr:
    """Base class of the expression nodes."""

    __slots__ = ()


@dataclass(frozen=True)
class Sym(Expr):
    """A declared symbol, by its text name (``W_hh``, ``h[t-1]``, ``yhat[t]``)."""

    name: str


@dataclass(frozen=True)
class Num(Expr):
    """A numeric literal other than a bare ``1`` (which is :class:`Ones`)."""

    value: int | float


@dataclass(frozen=True)
class Ones(Expr):
    """The all-ones matrix ``1``; its shape is inferred from context unless given."""

    rows: Size | None = None
    cols: Size | None = None


@dataclass(frozen=True)
class Identity(Expr):
    """The identity ``I`` (``I_n`` when the size is written)."""

    size: Size | None = None


@dataclass(frozen=True)
class Commutation(Expr):
    """The commutation matrix ``K(m, n)``: ``K(m, n) vec(X) = vec(Xᵀ)`` for ``X`` m×n."""

    m: Size
    n: Size


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Transpose(Expr):
    operand: Expr


@dataclass(frozen=True)
class Power(Expr):
    """``base ** exponent``: entrywise for vectors, the matrix power for square matrices
    (``W^{-1}`` is the inverse)."""

    base: Expr
    exponent: int


@dataclass(frozen=True)
class Scale(Expr):
    """A numeric coefficient times an expression (``2 x``, ``0.5 * A``)."""

    factor: Num
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Add(Binary):
    pass


@dataclass(frozen=True)
class Sub(Binary):
    pass


@dataclass(frozen=True)
class MatMul(Binary):
    """The matrix product; a scalar operand makes it a scalar multiplication."""


@dataclass(frozen=True)
class Hadamard(Binary):
    """Entrywise product ``∘`` (a scalar operand broadcasts)."""


@dataclass(frozen=True)
class HadamardDiv(Binary):
    """Entrywise division ``⊘`` (a scalar operand broadcasts)."""


@dataclass(frozen=True)
class Kron(Binary):
    """Kronecker product ``⊗``."""


@dataclass(frozen=True)
class Frobenius(Binary):
    """Frobenius product ``A : B = tr(Aᵀ B)``, a scalar."""


@dataclass(frozen=True)
class Call(Expr):
    """One of :data:`FUNCTIONS` applied to an expression."""

    func: str
    arg: Expr


@dataclass(frozen=True)
class Derivative(Expr):
    """``∂num/∂den`` (``kind="partial"``) or the gradient ``∇_den num`` (``kind="nabla"``).

    ``at`` is the evaluation bar ``|_t`` (seed 000: only the direct dependence at step
    ``t``); ``step`` the superscript of seed 003's per-step gradient ``∇^{(t)}``.
    """

    num: Expr
    den: Expr
    kind: Literal["partial", "nabla"] = "partial"
    at: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class Equation(Expr):
    """``lhs = rhs``."""

    lhs: Expr
    rhs: Expr


_EXPR_FIELDS: dict[type, tuple[str, ...]] = {}


def _expr_fields(node: Expr) -> tuple[str, ...]:
    cls = type(node)
    if cls not in _EXPR_FIELDS:
        _EXPR_FIELDS[cls] = tuple(
            f.name for f in fields(cls)  # type: ignore[arg-type]
            if f.name != "factor" and f.type == "Expr"
        )
    return _EXPR_FIELDS[cls]


def children(node: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of ``node`` in order (the factor of :class:`Scale` excluded)."""
    return tuple(getattr(node, name) for name in _expr_fields(node))


def map_children(node: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """``node`` with ``fn`` applied to each sub-expression (``node`` itself if unchanged)."""
    names = _expr_fields(node)
    if not names:
        return node
    new = {name: fn(getattr(node, name)) for name in names}
    if all(new[name] is getattr(node, name) for name in names):
        return node
    return replace(node, **new)  # type: ignore[type-var]


def walk(node: Expr) -> Iterator[Expr]:
    """``node`` and all its sub-expressions, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def symbols_of(node: Expr) -> list[str]:
    """Names of the symbols in ``node``, in first-appearance order, without repeats."""
    seen: dict[str, None] = {}
    for sub in walk(node):
        if isinstance(sub, Sym):
            seen.setdefault(sub.name, None)
    return list(seen)
