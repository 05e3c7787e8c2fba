"""Typed expression nodes: frozen dataclasses compared structurally.

Every value is a matrix (a scalar is ``1 × 1``, a vector ``n × 1`` or ``1 × n``); the
nodes say *what* is computed, :mod:`.shapes` says with which shapes, :mod:`.evaluate`
computes it. Nodes hold no source positions, so ``parse(render(f)) == f`` compares
mathematics, not spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Literal

from .sizes import Size

__all__ = [
    "ELEMENTWISE",
    "FUNCTIONS",
    "RELATION_TEXT",
    "Add",
    "Binary",
    "Call",
    "Cardinality",
    "Commutation",
    "Derivative",
    "Differential",
    "Equation",
    "Expr",
    "Frobenius",
    "Hadamard",
    "HadamardDiv",
    "Identity",
    "IndexProduct",
    "IndexSum",
    "Indexed",
    "Kron",
    "MatMul",
    "Neg",
    "Num",
    "Ones",
    "Ordinal",
    "ParseOnly",
    "Placeholder",
    "Power",
    "Relation",
    "Scale",
    "Sub",
    "Sym",
    "Transpose",
    "Tuple",
    "children",
    "map_children",
    "symbols_of",
    "walk",
]

ELEMENTWISE: tuple[str, ...] = ("tanh", "sigmoid", "exp", "log", "tanh'", "sigmoid'")
"""Functions applied entry by entry (``tanh'`` and ``sigmoid'`` are the derivatives,
``1 - tanh²`` and ``σ(1 - σ)``, as ``\\tanh'(a)`` and ``\\sigma'(z)`` write them)."""

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


@dataclass(frozen=True)
class IndexSum(Expr):
    """``\\sum_{lower}^{upper} body``: a sum over an index range (``\\sum_{j=1}^{|V|}``,
    ``\\sum_k``, ``\\sum_{t=1}^{T_x}``). ``lower``/``upper`` keep the script text.

    The index (:attr:`var`) is an *element* index when the body indexes entries with it
    (``y_j``, ``W_{ij}``): it then runs over that dimension, 1-based. Otherwise it is a
    *time* index: the body's symbols whose time index mentions it (``y^{(t)}``,
    ``a^{(t-1)}``) and its per-step gradients ``\\nabla^{(t)}`` take one value per step,
    stacked with time leading, over ``1..upper``.
    """

    body: Expr
    lower: str | None = None
    upper: str | None = None

    @property
    def var(self) -> str | None:
        """The index letter (``j`` of ``j=1``), or ``None`` when the limit is not an index."""
        match = re.fullmatch(r"([A-Za-z])(?:=(.*))?", (self.lower or "").replace(" ", ""))
        return None if match is None else match[1]

    @property
    def start(self) -> str | None:
        """The written start of the range (``1`` of ``j=1``), if any."""
        match = re.fullmatch(r"([A-Za-z])=(.*)", (self.lower or "").replace(" ", ""))
        return None if match is None else match[2]


@dataclass(frozen=True)
class Differential(Expr):
    """The differential ``d X`` of seed 000's and seed 003's answers (``dJ = y:W^{-1} dw``,
    ``d\\mathbf{z} = d\\mathbf{W}^\\top a + ...``): a linear map of the directions
    ``dX`` of the symbols inside. Its shape is that of ``X``."""

    operand: Expr


@dataclass(frozen=True)
class Indexed(Expr):
    """An element: ``h_1^i``, ``W_{ij}``, ``\\hat y_i^{(t)}``. ``index`` is the
    comma-separated list of indices (``"i"``, ``"i,j"``, ``"2"``), each a letter or a
    positive integer, 1-based as the seeds write them. One index picks the entry of a
    vector or the row (``1 × n``) of a matrix; two pick the entry ``(row, column)``."""

    base: Expr
    index: str

    @property
    def indices(self) -> tuple[str, ...]:
        return tuple(self.index.split(","))


@dataclass(frozen=True)
class Relation(Expr):
    """``lhs op rhs`` for a relation other than ``=``: the update rule ``:=`` (an
    assignment: both sides have one shape, the value is the right side's) or a comparison
    (``\\neq``, ``\\approx``, ``\\leq`` …; both sides shape-checked, never evaluated)."""

    op: str
    lhs: Expr
    rhs: Expr


RELATION_TEXT: dict[str, str] = {
    ":=": ":=", "\\neq": "!=", "\\approx": "~=", "\\leq": "<=", "\\geq": ">=",
    "\\equiv": "==", "\\propto": "∝",
}
"""Relations: their LaTeX spelling and the text one."""


# -- parse-only nodes ------------------------------------------------------------------------
# The seeds also write ordinals, cardinalities, tuples and "?"/"\\cdots" placeholders. They
# parse to the nodes below so that every seed formula can be read, but they carry no
# shapes: the checker and the evaluator reject them with a FormulaError that names the
# construct (:attr:`ParseOnly.construct`).


class ParseOnly(Expr):
    """Base of the nodes that parse but cannot be shape-checked or evaluated."""

    __slots__ = ()
    construct = "a parse-only construct"


@dataclass(frozen=True)
class Ordinal(ParseOnly):
    """An ordinal or a time superscript the names cannot hold: ``i^{th}``, ``(t+1)^{th}``,
    ``a^{(T_x-t)}`` (prose, not an index into a value)."""

    base: Expr
    text: str
    construct = "an ordinal superscript such as i^{th} or a^{(T_x-t)}"


@dataclass(frozen=True)
class Cardinality(ParseOnly):
    """``\\left|V\\right|``: the size of a set (or an absolute value)."""

    operand: Expr
    construct = "a cardinality |...|"


@dataclass(frozen=True)
class Tuple(ParseOnly):
    """``(a, b, ...)``: a shape annotation such as ``(n_h, 1)`` or function arguments."""

    items: tuple[Expr, ...]
    construct = "a tuple (a, b, ...)"


@dataclass(frozen=True)
class IndexProduct(ParseOnly):
    """``\\prod_{j=\\tau+1}^{t} body``: a product over an index range. The order of
    non-commuting factors is not written, so it parses but has no value."""

    body: Expr
    lower: str | None = None
    upper: str | None = None
    construct = "a product over an index range (\\prod), whose factor order is not written"


@dataclass(frozen=True)
class Placeholder(ParseOnly):
    """``?``, ``\\cdots``, ``g(\\cdot)`` and an empty ``()``: a gap in the formula."""

    text: str
    construct = "a placeholder such as ? or \\cdots"


_EXPR_FIELDS: dict[type, tuple[str, ...]] = {}


def _expr_fields(node: Expr) -> tuple[str, ...]:
    cls = type(node)
    if cls not in _EXPR_FIELDS:
        _EXPR_FIELDS[cls] = tuple(
            f.name for f in fields(cls)  # type: ignore[arg-type]
            if f.name != "factor" and f.type in ("Expr", "tuple[Expr, ...]")
        )
    return _EXPR_FIELDS[cls]


def _field_children(value: Expr | tuple[Expr, ...]) -> tuple[Expr, ...]:
    return value if isinstance(value, tuple) else (value,)


def children(node: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of ``node`` in order (the factor of :class:`Scale` excluded)."""
    return tuple(
        child for name in _expr_fields(node) for child in _field_children(getattr(node, name))
    )


def map_children(node: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """``node`` with ``fn`` applied to each sub-expression (``node`` itself if unchanged)."""
    names = _expr_fields(node)
    if not names:
        return node
    new = {
        name: tuple(fn(x) for x in value) if isinstance(value, tuple) else fn(value)
        for name in names
        for value in (getattr(node, name),)
    }
    if all(_same(new[name], getattr(node, name)) for name in names):
        return node
    return replace(node, **new)  # type: ignore[type-var]


def _same(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
    return a is b


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
