"""Convert a formula between notations, layouts and vec forms.

Symbols go through the canonical symbols: each of the source's symbols is replaced by
its meaning, each canonical symbol by the target's spelling of it (seed 000's ``H`` is
``W_hhᵀ``, the DL book's ``W`` is ``W_hh``, so ``H`` becomes ``Wᵀ``), then the result is
simplified (transposes pushed down).

A derivative ``∂num/∂den`` does not convert by substitution: its layout value changes.
Both its numerator and denominator are *peeled* into a sign, a form and a canonical
core (``−L[t]``, ``W_hhᵀ``, ``vec(W_xh)``...), and :func:`relayout` turns the value in
one (layout, form) into the value in the other with transposes and commutation
matrices: for a scalar by a matrix, numerator layout is the transpose of denominator and
mixed; ``∂y/∂vec(Wᵀ) = ∂y/∂vec(W) K(p, q)`` in numerator layout; a negated numerator
negates the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ._parse import parse
from ._render import partial_bar, render
from ._simplify import simplify
from .ast import (
    Call,
    Commutation,
    Derivative,
    Differential,
    Equation,
    Expr,
    MatMul,
    Neg,
    Relation,
    Sym,
    Transpose,
    map_children,
    walk,
)
from .errors import FormulaError
from .notation import Formula, Notation
from .shapes import LAYOUTS, check, kind_of
from .sizes import Shape
from .symbols import Symbol

__all__ = ["Peeled", "Side", "convert", "peel", "relayout"]

Form = Literal["id", "T", "vec", "vecT"]


@dataclass(frozen=True)
class Peeled:
    """A derivative's numerator or denominator as ``sign × form(core)``.

    ``form`` is ``"id"`` (the core), ``"T"`` (its transpose), ``"vec"`` (``vec(core)``)
    or ``"vecT"`` (``vec(coreᵀ)``, which is ``vecr(core)``); vectors are one-dimensional
    for layouts, so the orientation of a vector is not part of the form.
    """

    sign: int
    form: Form
    core: str
    core_shape: Shape
    opaque: Expr | None = None  #: a compound core (``aᵀx``), held as a whole

    @property
    def kind(self) -> str:
        core_kind = kind_of(self.core_shape)
        if core_kind == "matrix" and self.form in ("vec", "vecT"):
            return "vector"
        return core_kind

    def permutation(self) -> Expr | None:
        """``P`` with ``quantity = P · reference`` for a vector (``None`` for the identity):
        ``vec(Cᵀ) = K(p, q) vec(C)`` for ``C`` of shape ``(p, q)``."""
        if self.form == "vecT" and kind_of(self.core_shape) == "matrix":
            return Commutation(*self.core_shape)
        return None


@dataclass(frozen=True)
class Side:
    """One side of a layout change: numerator, denominator, layout, and whether the
    denominator is written as a row (for the mixed layout of a gradient by a vector)."""

    num: Peeled
    den: Peeled
    layout: str
    den_row: bool = False


def peel(expr: Expr, canonical: Mapping[str, Symbol]) -> Peeled:
    """``expr`` (in canonical symbols) as ``sign × form(core)``."""
    if isinstance(expr, Neg):
        p = peel(expr.operand, canonical)
        return Peeled(-p.sign, p.form, p.core, p.core_shape, p.opaque)
    if isinstance(expr, Transpose):
        p = peel(expr.operand, canonical)
        if p.kind != "matrix":
            return p  # a vector's orientation is not a layout matter
        return Peeled(p.sign, "T" if p.form == "id" else "id", p.core, p.core_shape,
                      p.opaque)
    if isinstance(expr, Call) and expr.func in ("vec", "vecr"):
        p = peel(expr.arg, canonical)
        if p.kind != "matrix":
            if p.kind == "vector":
                return p
            raise FormulaError(f"{expr.func} of a scalar: nothing to flatten")
        transposed = (p.form == "T") != (expr.func == "vecr")  # vecr(X) = vec(Xᵀ)
        return Peeled(p.sign, "vecT" if transposed else "vec", p.core, p.core_shape)
    if isinstance(expr, Sym) and expr.name in canonical:
        return Peeled(1, "id", expr.name, canonical[expr.name].shape)
    # Anything else (aᵀx, A x) is differentiated as a whole: its own core, as written.
    return Peeled(1, "id", render(expr, "text"), check(expr, canonical).shape, expr)


def _t(e: Expr) -> Expr:
    return Transpose(e)


def _mm(*factors: Expr | None) -> Expr:
    present = [f for f in factors if f is not None]
    out = present[0]
    for f in present[1:]:
        out = MatMul(out, f)
    return out


def _pt(p: Expr | None) -> Expr | None:
    return None if p is None else Transpose(p)


def relayout(value: Expr, src: Side, dst: Side) -> Expr:
    """The derivative whose value in ``src`` is ``value``, as a value in ``dst``.

    Both sides must differentiate the same canonical cores with the same kinds (scalar,
    vector, matrix); only layouts, transposes, vec forms and signs may differ.
    """
    if (
        src.num.kind == dst.num.kind == "scalar"
        and src.num.core == dst.num.core
        and src.den.core == dst.den.core
        and {src.den.kind, dst.den.kind} == {"matrix", "vector"}
        and kind_of(src.den.core_shape) == "matrix"
    ):
        return _matrix_vec(value, src, dst)
    for what, a, b in (("numerator", src.num, dst.num), ("denominator", src.den, dst.den)):
        if a.core != b.core or a.kind != b.kind:
            raise FormulaError(
                f"cannot relayout: the {what}s differ ({a.form}({a.core}) as a {a.kind} "
                f"against {b.form}({b.core}) as a {b.kind}); from a matrix to vec(·) or back "
                "converts only the derivative of a scalar"
            )
    nk, dk = src.num.kind, src.den.kind
    sign = src.num.sign * dst.num.sign * src.den.sign * dst.den.sign
    out: Expr
    if dk == "scalar" and nk == "scalar":
        out = value
    elif nk == "scalar" and dk == "matrix":
        flip = _matrix_flip(src.layout, src.den.form, "numerator") != _matrix_flip(
            dst.layout, dst.den.form, "numerator"
        )
        out = _t(value) if flip else value
    elif nk == "matrix" and dk == "scalar":
        flip = _matrix_flip(src.layout, src.num.form, "denominator") != _matrix_flip(
            dst.layout, dst.num.form, "denominator"
        )
        out = _t(value) if flip else value
    elif nk == "scalar" and dk == "vector":
        g_src = value if _gradient_is_column(src) else _t(value)
        g_dst = _mm(dst.den.permutation(), _pt(src.den.permutation()), g_src)
        out = g_dst if _gradient_is_column(dst) else _t(g_dst)
    elif nk == "vector" and dk == "scalar":
        v_src = _t(value) if src.layout == "denominator" else value
        v_dst = _mm(dst.num.permutation(), _pt(src.num.permutation()), v_src)
        out = _t(v_dst) if dst.layout == "denominator" else v_dst
    elif nk == "vector" and dk == "vector":
        j_src = _t(value) if src.layout == "denominator" else value
        j_dst = _mm(
            dst.num.permutation(), _pt(src.num.permutation()), j_src,
            src.den.permutation(), _pt(dst.den.permutation()),
        )
        out = _t(j_dst) if dst.layout == "denominator" else j_dst
    else:  # pragma: no cover - shapes.derivative_shape rejects these first
        raise FormulaError(f"no matrix layout for a {nk} by a {dk}")
    return Neg(out) if sign < 0 else out


def _matrix_vec(value: Expr, src: Side, dst: Side) -> Expr:
    """A scalar's derivative by a matrix ``X`` ↔ by ``vec(X)`` (or ``vec(Xᵀ)``).

    With ``G`` the gradient by ``X`` (shaped like ``X``), ``∂y/∂vec(X)`` is ``vec(G)`` as a
    column (``vec(G)ᵀ`` in numerator layout) and ``∂y/∂vec(Xᵀ)`` is ``vec(Gᵀ)``. Back from
    a vec form, the value must be written as ``vec(M)`` (or its transpose): there is no
    un-vec in the language.
    """
    sign = src.num.sign * dst.num.sign * src.den.sign * dst.den.sign
    if src.den.kind == "matrix":
        grad = _t(value) if _matrix_flip(src.layout, src.den.form, "numerator") else value
        flat = Call("vec", _t(grad) if dst.den.form == "vecT" else grad)
        out = flat if _gradient_is_column(dst) else _t(flat)
    else:
        column = value if _gradient_is_column(src) else _t(value)
        column = simplify(column, {})
        if not (isinstance(column, Call) and column.func == "vec"):
            raise FormulaError(
                "cannot turn a derivative by vec(·) into one by the matrix: the value must "
                f"be written as vec(M), got {render(column, 'text')}"
            )
        grad = _t(column.arg) if src.den.form == "vecT" else column.arg
        out = _t(grad) if _matrix_flip(dst.layout, dst.den.form, "numerator") else grad
    return Neg(out) if sign < 0 else out


def _matrix_flip(layout: str, form: str, transposing_layout: str) -> bool:
    return (layout == transposing_layout) != (form == "T")


def _gradient_is_column(side: Side) -> bool:
    return side.layout == "denominator" or (side.layout == "mixed" and not side.den_row)


# -- conversion ---------------------------------------------------------------------------


class _Translator:
    """Canonical expressions spelled in the target notation."""

    def __init__(self, source: Notation, target: Notation) -> None:
        self.source = source
        self.target = target
        self.canonical = dict(source.canonical_symbols)
        target_canonical = target.canonical_symbols
        for name, symbol in self.canonical.items():
            other = target_canonical.get(name)
            if other is not None and other.shape != symbol.shape:
                raise FormulaError(
                    f"notations {source.name!r} and {target.name!r} disagree on canonical "
                    f"{name!r}: {symbol.shape} against {other.shape}"
                )
        self.inverse: dict[str, Expr] = {}
        self.patterns: list[tuple[Expr, str]] = []
        for b in target.symbols:
            meaning = target.meaning(b)
            wrapper = _invertible(meaning)
            if wrapper is None:
                self.patterns.append((simplify(meaning, self.canonical), b))
                continue
            core, ops = wrapper
            current = self.inverse.get(core)
            candidate = _apply_inverse(ops, Sym(b))
            if current is None or _cost(candidate) < _cost(current):
                self.inverse[core] = candidate

    def spell(self, expr_c: Expr, extra: Mapping[str, Symbol]) -> Expr:
        """``expr_c`` (canonical symbols, maybe placeholders) in target symbols."""
        scope = {**self.canonical, **extra}
        expr = simplify(expr_c, scope)
        for pattern, name in self.patterns:
            expr = _replace(expr, pattern, Sym(name))

        def sub(e: Expr) -> Expr:
            if isinstance(e, Sym):
                if e.name in extra:
                    return e
                if e.name in self.target.symbols and self.target.meaning(e.name) == e:
                    return e
                if e.name not in self.inverse:
                    raise FormulaError(
                        f"notation {self.target.name!r} has no symbol for the canonical "
                        f"quantity {e.name!r}"
                    )
                return self.inverse[e.name]
            return map_children(e, sub)

        return sub(expr)


def _invertible(meaning: Expr) -> tuple[str, tuple[str, ...]] | None:
    """``(core, ops)`` when ``meaning`` is a symbol under transposes and negations."""
    ops: list[str] = []
    e = meaning
    while isinstance(e, (Transpose, Neg)):
        ops.append("T" if isinstance(e, Transpose) else "-")
        e = e.operand
    return (e.name, tuple(ops)) if isinstance(e, Sym) else None


def _apply_inverse(ops: tuple[str, ...], e: Expr) -> Expr:
    # meaning = op1(op2(...core)) ⇒ core = ...op2⁻¹(op1⁻¹(symbol)); T and − are involutions.
    for op in ops:
        e = Transpose(e) if op == "T" else Neg(e)
    return e


def _cost(e: Expr) -> int:
    return sum(1 for _ in walk(e))


def _replace(expr: Expr, pattern: Expr, by: Expr) -> Expr:
    if expr == pattern:
        return by
    return map_children(expr, lambda e: _replace(e, pattern, by))


def _derivative_dst(
    p: Peeled, translator: _Translator, target: Notation, canonical: Mapping[str, Symbol]
) -> Expr:
    """The target's natural spelling of a numerator or denominator: its symbol for the
    same core (a derived symbol such as seed 001's ``w`` for a vec form), else
    ``vec(...)`` of its spelling of the core."""
    if p.opaque is not None:
        return translator.spell(p.opaque, {})
    best: tuple[int, Expr] | None = None
    for b in target.symbols:
        try:
            q = peel(target.meaning(b), canonical)
        except FormulaError:
            continue
        if q.core != p.core or q.kind != p.kind or q.opaque is not None:
            continue
        score = (q.form != p.form) * 2 + (q.sign != p.sign)
        if best is None or score < best[0]:
            best = (score, Sym(b))
    if best is not None:
        return best[1]
    if p.form in ("vec", "vecT"):
        inner: Expr = Sym(p.core) if p.form == "vec" else Transpose(Sym(p.core))
        return Call("vec", translator.spell(inner, {}))
    return translator.spell(Sym(p.core), {})


def convert(
    formula: Formula,
    target: Notation,
    *,
    layout: str | None = None,
    wrt: str | Expr | None = None,
) -> Formula:
    """``formula`` in notation ``target``.

    Args:
        formula: the source formula (its notation and layout say how to read it).
        target: the notation to write it in.
        layout: the target layout of ``∂`` derivatives (default: the target's); giving one
            turns a ``∇`` gradient into a ``∂`` derivative in that layout, and a per-step
            ``∇^{(t)}`` into ``∂/∂θ|_t``: the step stays, as the evaluation bar.
        wrt: the target denominator (text or LaTeX in the target's symbols, e.g.
            ``"vec(W.T)"``); by default the target's symbol for the same quantity.

    A plain expression keeps its value; an equation whose left side becomes a transposed
    or negated symbol is transposed or negated on both sides (``hᵀ = …`` → ``h = …``);
    a derivative on the left changes its layout value as :func:`relayout` says.
    """
    source = formula.notation
    typed = formula.typed()
    if layout is not None and layout not in LAYOUTS:
        raise FormulaError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    dst_layout = layout or target.layout
    translator = _Translator(source, target)
    canonical = translator.canonical

    # Derivatives inside the right-hand side become placeholders while symbols are
    # substituted, then the target's derivative, relaid out, takes their place.
    atoms: dict[str, tuple[Derivative, Shape]] = {}

    def hide(node: Expr) -> Expr:
        if isinstance(node, Derivative):
            found = typed.find(node)
            assert found is not None
            name = f"atomD{len(atoms)}"
            atoms[name] = (node, found.shape)
            return Sym(name)
        return map_children(node, hide)

    def canonical_of(e: Expr) -> Expr:
        if isinstance(e, Sym):
            return e if e.name in atoms else source.meaning(e.name)
        return map_children(e, canonical_of)

    def translate(e: Expr) -> Expr:
        hidden = hide(e)
        placeholders = {n: Symbol(n, shape) for n, (_, shape) in atoms.items()}
        spelled = translator.spell(canonical_of(hidden), placeholders)
        return _reveal(spelled, atoms, formula, target, translator, dst_layout, canonical)

    expr = formula.expr
    scope_b = dict(target.symbols)
    if isinstance(expr, Equation) and isinstance(expr.lhs, Derivative):
        d = expr.lhs
        src_side = _side(d, formula, canonical, source)
        if wrt is not None:
            wrt_expr = wrt if isinstance(wrt, Expr) else parse(wrt, declared=target.symbols.keys())
            den_dst = wrt_expr
        else:
            den_dst = _derivative_dst(src_side.den, translator, target, canonical)
        num_dst = _derivative_dst(src_side.num, translator, target, canonical)
        kind = d.kind if (layout is None or d.kind == "partial") else "partial"
        # A ∇^{(t)} becoming a ∂ keeps its step, as the ∂'s bar |_t (see partial_bar).
        at, step = (d.at, d.step) if kind == d.kind else (partial_bar(d), None)
        new_lhs = Derivative(num_dst, den_dst, kind, at, step)
        dst_formula = Formula(new_lhs, target, dst_layout)
        dst_side = _side(new_lhs, dst_formula, canonical, target)
        rhs = relayout(translate(expr.rhs), src_side, dst_side)
        result: Expr = Equation(new_lhs, simplify(rhs, scope_b, layout=dst_layout))
    elif isinstance(expr, (Equation, Relation)):
        lhs, rhs = translate(expr.lhs), translate(expr.rhs)
        if lhs == rhs and expr.lhs != expr.rhs:
            # Simplified, both sides of an identity such as (A⊗B)ᵀ = Aᵀ⊗Bᵀ become one
            # expression and the statement is lost: spell the left side as written, symbol
            # by symbol.
            lhs = _symbolwise(expr.lhs, translate)
        while True:
            if isinstance(lhs, Differential) and isinstance(lhs.operand, (Transpose, Neg)):
                # d(xᵀ) = (dx)ᵀ and d(−x) = −dx: the sign or transpose moves to the right.
                inner = lhs.operand
                lhs = Differential(inner.operand)
                rhs = Transpose(rhs) if isinstance(inner, Transpose) else Neg(rhs)
            elif isinstance(lhs, (Transpose, Neg)) and _symbol_core(lhs):
                rhs = Transpose(rhs) if isinstance(lhs, Transpose) else Neg(rhs)
                lhs = lhs.operand
            else:
                break
        rhs = simplify(rhs, scope_b, layout=dst_layout)
        result = (Equation(lhs, rhs) if isinstance(expr, Equation)
                  else Relation(expr.op, lhs, rhs))
    else:
        result = simplify(translate(expr), scope_b, layout=dst_layout)
    out = Formula(result, target, dst_layout)
    out.typed()  # the conversion must type-check; a failure here is a bug worth seeing
    return out


def _symbol_core(expr: Expr) -> bool:
    """Whether ``expr`` is a symbol under transposes and negations (``hᵀ``, ``−W``)."""
    while isinstance(expr, (Transpose, Neg)):
        expr = expr.operand
    return isinstance(expr, Sym)


def _symbolwise(expr: Expr, translate: Callable[[Expr], Expr]) -> Expr:
    """``expr`` with each symbol translated on its own: its structure is kept."""
    if isinstance(expr, Sym):
        return translate(expr)
    return map_children(expr, lambda e: _symbolwise(e, translate))


def _side(d: Derivative, formula: Formula, canonical: Mapping[str, Symbol],
          notation: Notation) -> Side:
    num = peel(simplify(notation.to_canonical(d.num), canonical), canonical)
    den = peel(simplify(notation.to_canonical(d.den), canonical), canonical)
    den_shape = check(d.den, notation.symbols).shape
    layout = "mixed" if d.kind == "nabla" else formula.layout
    return Side(num, den, layout, den_row=den_shape[0].is_one and not den_shape[1].is_one)


def _reveal(
    expr: Expr,
    atoms: Mapping[str, tuple[Derivative, Shape]],
    formula: Formula,
    target: Notation,
    translator: _Translator,
    dst_layout: str,
    canonical: Mapping[str, Symbol],
) -> Expr:
    """Put each hidden derivative back, as the target's derivative relaid out to the
    source's layout (the value the source formula used)."""
    if isinstance(expr, Sym) and expr.name in atoms:
        d, _ = atoms[expr.name]
        src_side = _side(d, formula, canonical, formula.notation)
        num = _derivative_dst(src_side.num, translator, target, canonical)
        den = _derivative_dst(src_side.den, translator, target, canonical)
        twin = Derivative(num, den, d.kind, d.at, d.step)
        twin_side = _side(twin, Formula(twin, target, dst_layout), canonical, target)
        return relayout(twin, twin_side, src_side)
    return map_children(
        expr,
        lambda e: _reveal(e, atoms, formula, target, translator, dst_layout, canonical),
    )
