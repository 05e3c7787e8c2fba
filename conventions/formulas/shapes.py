"""Shape checking: every sub-expression gets a ``(rows, cols)`` shape in size symbols.

:func:`check` infers shapes bottom-up against the declarations, solving for the sizes of
bare ``I`` and ``1`` from context. A mismatch raises :class:`~.errors.FormulaError` naming
the offending sub-expression and both shapes, e.g. seed 001's
``(e_1ᵀ ⊗ I_{n_h}) diag(1 - h_1²)``: ``(n_h × n_i·n_h)`` against ``(n_h × n_h)``.

Derivatives take the shape of their layout (see :func:`derivative_shape`); vectors count
as one-dimensional there, whatever their orientation, as in the layout tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ._parse import Parsed
from ._render import render
from .ast import (
    ELEMENTWISE,
    Add,
    Call,
    Commutation,
    Derivative,
    Differential,
    Equation,
    Expr,
    Frobenius,
    Hadamard,
    HadamardDiv,
    Identity,
    Indexed,
    IndexSum,
    Kron,
    MatMul,
    Neg,
    Num,
    Ones,
    ParseOnly,
    Power,
    Relation,
    Scale,
    Sub,
    Sym,
    Transpose,
    children,
    walk,
)
from .errors import FormulaError
from .names import split_name
from .sizes import ONE, Shape, Size, Unifier, format_shape, parse_size
from .symbols import Symbol

__all__ = [
    "LAYOUTS",
    "Kind",
    "Layout",
    "Typed",
    "check",
    "check_annotations",
    "derivative_shape",
    "kind_of",
    "time_var_in",
]

Layout = Literal["numerator", "denominator", "mixed"]
LAYOUTS: tuple[str, ...] = ("numerator", "denominator", "mixed")
Kind = Literal["scalar", "vector", "matrix"]


@dataclass(frozen=True)
class Typed:
    """A sub-expression with its shape and its typed sub-expressions.

    ``mode`` records decisions evaluation needs: ``"scalar"`` for a product or sum with
    a scalar operand, ``"matrix"``/``"entrywise"`` for a power, ``"vector"``/``"matrix"``
    for ``diag``.
    """

    expr: Expr
    shape: Shape
    args: tuple[Typed, ...] = ()
    mode: str = ""
    extent: Size | None = None  #: the range of an index sum (``"element"``/``"time"`` mode)

    def find(self, expr: Expr) -> Typed | None:
        """The first typed node whose expression equals ``expr``."""
        if self.expr == expr:
            return self
        for arg in self.args:
            found = arg.find(expr)
            if found is not None:
                return found
        return None


def kind_of(shape: Shape) -> Kind:
    rows, cols = shape
    if rows.is_one and cols.is_one:
        return "scalar"
    if rows.is_one or cols.is_one:
        return "vector"
    return "matrix"


def _length(shape: Shape) -> Size:
    return shape[1] if shape[0].is_one else shape[0]


def derivative_shape(num: Shape, den: Shape, layout: str, kind: str = "partial") -> Shape:
    """The matrix shape of ``∂num/∂den`` in ``layout`` (``"nabla"`` is always ``mixed``).

    =============== ============ ============== =====================================
    num by den      numerator    denominator    mixed
    =============== ============ ============== =====================================
    scalar/scalar   1 × 1        1 × 1          1 × 1
    scalar/vector   1 × n        n × 1          the shape of den (row or column)
    scalar/matrix   q × p        p × q          p × q (the shape of den)
    vector/scalar   m × 1        1 × m          m × 1
    vector/vector   m × n        n × m          m × n
    matrix/scalar   p × q        q × p          p × q
    =============== ============ ============== =====================================

    A vector or matrix by a matrix, or a matrix by a vector, is third or fourth order and
    has no matrix form without a flattening: write ``∂y/∂vec(W)``.
    """
    if kind == "nabla":
        if kind_of(num) != "scalar":
            raise FormulaError(
                f"∇: expected a scalar to take the gradient of, got shape {format_shape(num)}"
            )
        layout = "mixed"
    nk, dk = kind_of(num), kind_of(den)
    if layout not in LAYOUTS:
        raise FormulaError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    if nk == "scalar":
        if dk == "scalar":
            return (ONE, ONE)
        if dk == "vector":
            n = _length(den)
            return {"numerator": (ONE, n), "denominator": (n, ONE), "mixed": den}[layout]
        p, q = den
        return (q, p) if layout == "numerator" else (p, q)
    if dk == "scalar":
        if nk == "vector":
            m = _length(num)
            return (ONE, m) if layout == "denominator" else (m, ONE)
        p, q = num
        return (q, p) if layout == "denominator" else (p, q)
    if nk == "vector" and dk == "vector":
        m, n = _length(num), _length(den)
        return (n, m) if layout == "denominator" else (m, n)
    raise FormulaError(
        f"a {nk} of shape {format_shape(num)} by a {dk} of shape {format_shape(den)} is a "
        f"tensor of order {(nk != 'scalar') + (nk == 'matrix') + 1 + (dk == 'matrix')}: no "
        "numerator, denominator or mixed matrix exists without a flattening; differentiate "
        "with respect to vec(·) instead, e.g. ∂h/∂vec(W)"
    )


def check(
    expr: Expr,
    symbols: Mapping[str, Symbol],
    *,
    layout: str = "mixed",
    parsed: Parsed | None = None,
) -> Typed:
    """Infer and check every shape in ``expr``; the typed tree.

    Args:
        expr: the expression or equation.
        symbols: the declarations in scope, by name.
        layout: the layout of derivatives written with ``∂`` (``∇`` is always mixed).
        parsed: the parse result ``expr`` came from, to point at positions in errors.
    """
    if layout not in LAYOUTS:
        raise FormulaError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    checker = _Checker(symbols, layout, parsed)
    typed = checker.infer(expr)
    return checker.finish(typed)


def check_annotations(
    typed: Typed, parsed: Parsed, aliases: Mapping[str, str] | None = None
) -> None:
    """Hold ``\\underset{rows \\times cols}{…}`` annotations to the inferred shapes.

    Annotations with other than two factors (a third-order ``D_h × D_h × D_h``) are
    skipped: they have no matrix shape to compare.
    """
    for note in parsed.annotations:
        text = note.text.strip().rstrip(",").strip()
        parts = [p for p in _split_times(text) if p.strip()]
        if len(parts) != 2:
            continue
        try:
            want = (parse_size(parts[0], aliases), parse_size(parts[1], aliases))
        except FormulaError as exc:
            raise FormulaError(
                f"size annotation {note.text!r}: {exc.reason}", source=parsed.source,
                position=note.position,
            ) from None
        node = typed.find(note.expr)
        if node is None:  # pragma: no cover - annotations come from the same tree
            continue
        if node.shape != want:
            raise FormulaError(
                f"size annotation says {format_shape(want)} for {render(note.expr, parsed.syntax)}"
                f", but the declarations give {format_shape(node.shape)}",
                source=parsed.source, position=note.position, length=len(note.text),
            )


def _split_times(text: str) -> list[str]:
    for sep in ("\\times", "×"):
        if sep in text:
            return text.split(sep)
    return [text]


class _Checker:
    def __init__(self, symbols: Mapping[str, Symbol], layout: str, parsed: Parsed | None) -> None:
        self.symbols = symbols
        self.layout = layout
        self.parsed = parsed
        self.u = Unifier()
        self.identities: list[Shape] = []
        self.extents: dict[str, Size] = {}

    # -- errors ----------------------------------------------------------------------------
    def show(self, expr: Expr) -> str:
        """The sub-expression as the user wrote it, or rendered when that is unknown."""
        if self.parsed is not None:
            span = self.parsed.span(expr)
            if span is not None:
                return self.parsed.source[span[0] : span[1]].strip()
            return render(expr, self.parsed.syntax)
        return render(expr, "text")

    def error(self, message: str, *nodes: Expr) -> FormulaError:
        if self.parsed is not None:
            for node in nodes:
                span = self.parsed.span(node)
                if span is not None:
                    return FormulaError(message, source=self.parsed.source, position=span[0],
                                        length=max(1, span[1] - span[0]))
        return FormulaError(message)

    def shape(self, t: Typed) -> str:
        return format_shape(self.u.resolve_shape(t.shape))

    # -- inference ---------------------------------------------------------------------------
    def known_scalar(self, t: Typed) -> bool:
        rows, cols = self.u.resolve_shape(t.shape)
        return rows.is_one and cols.is_one

    def unify_shapes(self, a: Typed, b: Typed, what: str, node: Expr) -> Shape:
        if self.u.unify(a.shape[0], b.shape[0]) and self.u.unify(a.shape[1], b.shape[1]):
            return self.u.resolve_shape(a.shape)
        raise self.error(
            f"{what}: shapes differ: {self.show(a.expr)} is {self.shape(a)}, "
            f"{self.show(b.expr)} is {self.shape(b)}",
            node,
        )

    def infer(self, e: Expr) -> Typed:
        if isinstance(e, Sym):
            if e.name not in self.symbols:
                known = ", ".join(sorted(self.symbols)) or "none"
                raise self.error(f"unknown symbol {e.name!r}; declared symbols: {known}", e)
            return Typed(e, self.symbols[e.name].shape)
        if isinstance(e, Num):
            return Typed(e, (ONE, ONE))
        if isinstance(e, Ones):
            if e.rows is not None and e.cols is not None:
                return Typed(e, (e.rows, e.cols))
            return Typed(e, (self.u.fresh(), self.u.fresh()))
        if isinstance(e, Identity):
            n = e.size if e.size is not None else self.u.fresh()
            self.identities.append((n, n))
            return Typed(e, (n, n))
        if isinstance(e, Commutation):
            return Typed(e, (e.m * e.n, e.m * e.n))
        if isinstance(e, (Neg, Scale)):
            arg = self.infer(e.operand)
            return Typed(e, arg.shape, (arg,))
        if isinstance(e, Transpose):
            arg = self.infer(e.operand)
            return Typed(e, (arg.shape[1], arg.shape[0]), (arg,))
        if isinstance(e, Power):
            return self.power(e)
        if isinstance(e, (Add, Sub, Hadamard, HadamardDiv)):
            left, right = self.infer(e.left), self.infer(e.right)
            if self.known_scalar(left) and not self.known_scalar(right):
                return Typed(e, right.shape, (left, right), "scalar")
            if self.known_scalar(right) and not self.known_scalar(left):
                return Typed(e, left.shape, (left, right), "scalar")
            what = {Add: "sum", Sub: "difference", Hadamard: "entrywise product ∘",
                    HadamardDiv: "entrywise division ⊘"}[type(e)]
            return Typed(e, self.unify_shapes(left, right, what, e), (left, right))
        if isinstance(e, MatMul):
            left, right = self.infer(e.left), self.infer(e.right)
            if self.known_scalar(left):
                return Typed(e, right.shape, (left, right), "scalar")
            if self.known_scalar(right):
                return Typed(e, left.shape, (left, right), "scalar")
            if not self.u.unify(left.shape[1], right.shape[0]):
                raise self.error(
                    f"matrix product: inner sizes differ: {self.show(e.left)} is "
                    f"{self.shape(left)}, {self.show(e.right)} is {self.shape(right)} "
                    f"({self.u.resolve(left.shape[1])} columns against "
                    f"{self.u.resolve(right.shape[0])} rows)",
                    e,
                )
            return Typed(e, (left.shape[0], right.shape[1]), (left, right))
        if isinstance(e, Kron):
            left, right = self.infer(e.left), self.infer(e.right)
            shape = (left.shape[0] * right.shape[0], left.shape[1] * right.shape[1])
            return Typed(e, shape, (left, right))
        if isinstance(e, Frobenius):
            left, right = self.infer(e.left), self.infer(e.right)
            self.unify_shapes(left, right, "Frobenius product :", e)
            return Typed(e, (ONE, ONE), (left, right))
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, Derivative):
            num, den = self.infer(e.num), self.infer(e.den)
            try:
                shape = derivative_shape(
                    self.u.resolve_shape(num.shape), self.u.resolve_shape(den.shape),
                    self.layout, e.kind,
                )
            except FormulaError as exc:
                raise self.error(f"{self.show(e)}: {exc.reason}", e) from None
            return Typed(e, shape, (num, den), self.layout if e.kind == "partial" else "mixed")
        if isinstance(e, ParseOnly):
            where = ""
            span = self.parsed.span(e) if self.parsed is not None else None
            if span is not None and self.parsed is not None:
                where = f"{self.parsed.source[span[0] : span[1]].strip()}: "
            raise self.error(
                f"{where}{e.construct} is parsed but has no shape: it cannot be "
                "shape-checked, evaluated or converted",
                e,
            )
        if isinstance(e, Indexed):
            return self.indexed(e)
        if isinstance(e, IndexSum):
            return self.index_sum(e)
        if isinstance(e, Differential):
            if any(isinstance(x, Differential) for x in walk(e.operand)):
                raise self.error(f"{self.show(e)}: a differential inside a differential "
                                 "(second order) is not supported", e)
            arg = self.infer(e.operand)
            return Typed(e, arg.shape, (arg,))
        if isinstance(e, (Equation, Relation)):
            lhs, rhs = self.infer(e.lhs), self.infer(e.rhs)
            if e.rhs == Num(0):  # "d a = 0": the zero of any shape
                return Typed(e, lhs.shape, (lhs, rhs), "zero")
            if not (self.u.unify(lhs.shape[0], rhs.shape[0])
                    and self.u.unify(lhs.shape[1], rhs.shape[1])):
                raise self.error(
                    f"the two sides differ: {self.show(e.lhs)} is {self.shape(lhs)}"
                    f"{' in ' + self.layout + ' layout' if isinstance(e.lhs, Derivative) else ''}"
                    f", {self.show(e.rhs)} is {self.shape(rhs)}",
                    e.rhs,
                )
            return Typed(e, lhs.shape, (lhs, rhs))
        raise FormulaError(f"cannot type {type(e).__name__}")  # pragma: no cover

    def indexed(self, e: Indexed) -> Typed:
        base = self.infer(e.base)
        rows, cols = self.u.resolve_shape(base.shape)
        indices = e.indices
        if len(indices) == 1:
            if rows.is_one or cols.is_one:  # an entry of a vector
                extents = [cols if rows.is_one else rows]
                shape: Shape = (ONE, ONE)
            else:  # a row of a matrix
                extents, shape = [rows], (ONE, cols)
        elif len(indices) == 2:
            extents, shape = [rows, cols], (ONE, ONE)
        else:
            raise self.error(f"{self.show(e)}: expected one or two indices", e)
        for index, extent in zip(indices, extents, strict=True):
            if index.isdigit():
                n = int(index)
                if extent.factors == () and n > extent.coeff:
                    raise self.error(f"{self.show(e)}: index {n} is past the size {extent}", e)
                continue
            seen = self.extents.get(index)
            if seen is None:
                self.extents[index] = extent
            elif not self.u.unify(seen, extent):
                raise self.error(
                    f"{self.show(e)}: index {index} ranges over {self.u.resolve(extent)} here "
                    f"but over {self.u.resolve(seen)} elsewhere", e,
                )
        return Typed(e, shape, (base,), "row" if shape[1] != ONE else "entry")

    def index_sum(self, e: IndexSum) -> Typed:
        var = e.var
        if var is None:
            raise self.error(
                f"{self.show(e)}: index sum: expected a lower limit naming the index, such "
                f"as j=1 or t, got {e.lower!r}", e,
            )
        if e.start is not None and e.start != "1":
            raise self.error(
                f"{self.show(e)}: index sum: ranges start at 1 (indices are 1-based), got "
                f"{var}={e.start}", e,
            )
        body = self.infer(e.body)
        upper: Size | None = None
        if e.upper is not None:
            try:
                upper = parse_size(e.upper)
            except FormulaError as exc:
                raise self.error(f"{self.show(e)}: index sum: upper limit: {exc.reason}",
                                 e) from None
        element = any(isinstance(x, Indexed) and var in x.indices for x in walk(e.body))
        if element:
            extent = self.extents[var]
            if upper is not None and not self.u.unify(extent, upper):
                raise self.error(
                    f"{self.show(e)}: index sum: the upper limit is {upper}, but {var} indexes "
                    f"a dimension of size {self.u.resolve(extent)}", e,
                )
            return Typed(e, body.shape, (body,), "element", extent)
        if any(time_var_in(x, var) for x in walk(e.body) if isinstance(x, (Sym, Derivative))):
            return Typed(e, body.shape, (body,), "time", upper or self.u.fresh())
        raise self.error(
            f"{self.show(e)}: index sum: the index {var} appears nowhere in the body (neither "
            f"as an element index such as y_{var} nor as a time index such as h^{{({var})}})", e,
        )

    def power(self, e: Power) -> Typed:
        base = self.infer(e.base)
        rows, cols = self.u.resolve_shape(base.shape)
        if rows.is_one or cols.is_one:
            return Typed(e, base.shape, (base,), "entrywise")
        square_possible = rows.unknowns or cols.unknowns or rows == cols
        if square_possible and self.u.unify(rows, cols):
            return Typed(e, base.shape, (base,), "matrix")
        raise self.error(
            f"power {e.exponent}: {self.show(e.base)} is a non-square matrix "
            f"{self.shape(base)}; a matrix power needs a square matrix (write ∘ for entrywise)",
            e,
        )

    def call(self, e: Call) -> Typed:
        arg = self.infer(e.arg)
        rows, cols = self.u.resolve_shape(arg.shape)
        if e.func in ELEMENTWISE:
            return Typed(e, arg.shape, (arg,))
        if e.func == "softmax":
            if not (rows.is_one or cols.is_one) and not (rows.unknowns or cols.unknowns):
                raise self.error(
                    f"softmax: expected a vector, got {self.show(e.arg)} of shape "
                    f"{self.shape(arg)}", e,
                )
            return Typed(e, arg.shape, (arg,))
        if e.func == "diag":
            if rows.is_one or cols.is_one:
                n = cols if rows.is_one else rows
                return Typed(e, (n, n), (arg,), "vector")
            if rows.unknowns or cols.unknowns:
                self.u.unify(cols, ONE)
                return Typed(e, (rows, rows), (arg,), "vector")
            if rows == cols:
                return Typed(e, (rows, ONE), (arg,), "matrix")
            raise self.error(
                f"diag: expected a vector or a square matrix, got {self.show(e.arg)} of shape "
                f"{self.shape(arg)}", e,
            )
        if e.func in ("vec", "vecr"):
            return Typed(e, (rows * cols, ONE), (arg,))
        if e.func == "tr":
            if not self.u.unify(rows, cols):
                raise self.error(
                    f"tr: expected a square matrix, got {self.show(e.arg)} of shape "
                    f"{self.shape(arg)}", e,
                )
            return Typed(e, (ONE, ONE), (arg,))
        if e.func == "sum":
            return Typed(e, (ONE, ONE), (arg,))
        raise self.error(f"unknown function {e.func!r}", e)  # pragma: no cover

    # -- the end -----------------------------------------------------------------------------
    def finish(self, typed: Typed) -> Typed:
        # An identity whose size nothing fixed cannot be evaluated; a bare 1 is a scalar.
        for shape in self.identities:
            n = self.u.resolve(shape[0])
            if n.unknowns:
                raise FormulaError(
                    "cannot infer the size of I from the formula; write it, as in I_{n_h}"
                )
        for node in _typed_walk(typed):
            for size in node.shape:
                for var in self.u.resolve(size).unknowns:
                    self.u.bindings[var] = ONE
        return _resolve(typed, self.u)


def _typed_walk(t: Typed) -> list[Typed]:
    out = [t]
    for a in t.args:
        out.extend(_typed_walk(a))
    return out


def _resolve(t: Typed, u: Unifier) -> Typed:
    extent = u.resolve(t.extent) if t.extent is not None else None
    return Typed(t.expr, u.resolve_shape(t.shape), tuple(_resolve(a, u) for a in t.args), t.mode,
                 extent)


_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


def time_var_in(expr: Expr, var: str) -> bool:
    """Whether ``expr`` (a symbol or a derivative) is indexed by time ``var``: a symbol
    whose time index mentions it (``a[t-1]``), a per-step gradient ``∇^{(t)}``."""
    if isinstance(expr, Sym):
        time = split_name(expr.name)[2]
        return time is not None and re.search(_WORD.format(re.escape(var)), time) is not None
    if isinstance(expr, Derivative):
        return expr.step == var or any(
            time_var_in(x, var) for x in _unbound_symbols(expr, var)
        )
    return False


def _unbound_symbols(expr: Expr, var: str) -> list[Sym]:
    """The symbols of ``expr`` outside every sum over ``var``: ``∂(Σ_t a^{(t)ᵀ} W)/∂W``
    does not depend on the step ``t`` its sum binds."""
    if isinstance(expr, Sym):
        return [expr]
    if isinstance(expr, IndexSum) and expr.var == var:
        return []
    return [s for c in children(expr) for s in _unbound_symbols(c, var)]


_ = walk
