"""Differentials as linear maps, and the gradient they identify.

``dJ = tr(Gᵀ dW)`` (or ``G : dW``) says that ``J`` changes by ``⟨G, dW⟩`` along any
direction ``dW``: by the identification theorem (Magnus & Neudecker) ``∂J/∂W = G`` in
the mixed layout (the gradient has the shape of ``W``). :func:`gradient` reads ``G`` off
such a statement — a sum of terms ``tr(A dW B)``, ``tr(A dWᵀ B)``, ``A : B dW C`` or a
scalar ``a dW b`` — using ``tr(A dW B) = tr(B A dW)``, so ``G = (B A)ᵀ`` (``B A`` for
``dWᵀ``). Terms in other differentials are held at zero, as the seeds do ("when
differentiating w.r.t. W_ya, we have da = 0").
"""

from __future__ import annotations

from ._parse import parse
from ._render import render
from ._simplify import simplify
from .ast import (
    Add,
    Call,
    Derivative,
    Differential,
    Equation,
    Expr,
    Frobenius,
    MatMul,
    Neg,
    Scale,
    Sub,
    Sym,
    Transpose,
    walk,
)
from .errors import FormulaError
from .notation import Formula
from .shapes import LAYOUTS, check, kind_of

__all__ = ["gradient"]


def _terms(e: Expr, sign: int = 1) -> list[tuple[int, Expr]]:
    if isinstance(e, Add):
        return _terms(e.left, sign) + _terms(e.right, sign)
    if isinstance(e, Sub):
        return _terms(e.left, sign) + _terms(e.right, -sign)
    if isinstance(e, Neg):
        return _terms(e.operand, -sign)
    return [(sign, e)]


def _factors(e: Expr) -> list[Expr]:
    if isinstance(e, MatMul):
        return _factors(e.left) + _factors(e.right)
    return [e]


def _product(factors: list[Expr]) -> Expr | None:
    if not factors:
        return None
    out = factors[0]
    for f in factors[1:]:
        out = MatMul(out, f)
    return out


def _has_differential(e: Expr) -> bool:
    return any(isinstance(x, Differential) for x in walk(e))


def _which(factor: Expr, wrt: Sym) -> str | None:
    """``"d"`` for ``dW``, ``"dT"`` for ``dWᵀ`` (or ``(dW)ᵀ``), ``None`` otherwise."""
    if isinstance(factor, Differential):
        if factor.operand == wrt:
            return "d"
        if factor.operand == Transpose(wrt):
            return "dT"
    if isinstance(factor, Transpose) and isinstance(factor.operand, Differential):
        inner = _which(factor.operand, wrt)
        return {"d": "dT", "dT": "d"}.get(inner or "")
    return None


def _trace_gradient(factors: list[Expr], wrt: Sym, source: str) -> Expr | None:
    """``G`` with ``tr(factors) = ⟨G, dW⟩``; ``None`` when no factor is ``dW``."""
    spots = [(i, _which(f, wrt)) for i, f in enumerate(factors)]
    found = [(i, w) for i, w in spots if w is not None]
    if not found:
        if any(_has_differential(f) and wrt in walk(f) for f in factors):
            raise FormulaError(
                f"{source}: d{wrt.name} appears inside another expression; expected it as a "
                "factor of a product, as in tr(A dW B) or G : dW"
            )
        return None
    if len(found) > 1 or any(_has_differential(f) for j, f in enumerate(factors)
                             if j != found[0][0]):
        raise FormulaError(f"{source}: a term with two differentials is not linear")
    i, kind = found[0]
    cyc = _product(factors[i + 1 :] + factors[:i])
    if cyc is None:
        raise FormulaError(f"{source}: tr(d{wrt.name}) alone: write tr(I d{wrt.name})")
    return Transpose(cyc) if kind == "d" else cyc


def _term_gradient(term: Expr, wrt: Sym, source: str) -> Expr | None:
    coeff = None
    if isinstance(term, Scale):
        coeff, term = term.factor, term.operand
    if not _has_differential(term):
        # tr(A) or A : B without a differential is as much a constant term as a bare A.
        raise FormulaError(
            f"{source}: the term {render(term, 'text')} holds no differential; expected "
            "dJ as a sum of terms linear in differentials"
        )
    if isinstance(term, Call) and term.func == "tr":
        g = _trace_gradient(_factors(term.arg), wrt, source)
    elif isinstance(term, Frobenius):
        a, b = term.left, term.right
        if _has_differential(a) and not _has_differential(b):
            a, b = b, a
        # A : B = tr(Aᵀ B)
        g = _trace_gradient([Transpose(a), *_factors(b)], wrt, source)
    else:
        g = _trace_gradient(_factors(term), wrt, source)  # a scalar: its own trace
    if g is not None and coeff is not None:
        g = Scale(coeff, g)
    return g


def gradient(formula: Formula, wrt: str | Expr, *, layout: str | None = None) -> Formula:
    """The derivative ``∂J/∂W`` that a differential statement ``dJ = …`` identifies.

    Args:
        formula: ``dJ = tr(Gᵀ dW)``, ``dJ = G : dW`` … in its notation; derivatives
            inside it are read in the formula's layout.
        wrt: the symbol ``W`` (a name, or text/LaTeX such as ``"W_ya"``).
        layout: the layout of the result's ``∂`` (default: the formula's). The result
            converts to any notation and layout like any derivative formula.
    """
    from ._convert import _side, relayout

    notation = formula.notation
    expr = formula.expr
    source = render(expr, "text")
    if not (isinstance(expr, Equation) and isinstance(expr.lhs, Differential)):
        raise FormulaError(f"{source}: expected a differential statement dJ = ...")
    num = expr.lhs.operand
    w = wrt if isinstance(wrt, Expr) else parse(wrt, declared=notation.symbols.keys())
    if not isinstance(w, Sym) or w.name not in notation.symbols:
        raise FormulaError(f"gradient: expected a declared symbol to differentiate by, got "
                           f"{wrt!r}")
    typed = formula.typed()
    if kind_of(typed.args[0].shape) != "scalar":
        raise FormulaError(f"{source}: the identification theorem needs a scalar on the left")
    parts = []
    for sign, term in _terms(expr.rhs):
        g = _term_gradient(term, w, source)
        if g is not None:
            parts.append(g if sign > 0 else Neg(g))
    if not parts:
        raise FormulaError(f"{source}: no term holds d{w.name}")
    total = parts[0]
    for p in parts[1:]:
        total = Sub(total, p.operand) if isinstance(p, Neg) else Add(total, p)
    lay = layout or formula.layout
    if lay not in LAYOUTS:
        raise FormulaError(f"layout: expected one of {', '.join(LAYOUTS)}, got {lay!r}")
    d = Derivative(num, w)
    canonical = notation.canonical_symbols
    mixed = _side(d, Formula(d, notation, "mixed"), canonical, notation)
    target = _side(d, Formula(d, notation, lay), canonical, notation)
    value = relayout(total, mixed, target)
    # Derivatives inside keep the formula's layout: the result is read in that layout too,
    # so only a layout equal to the formula's keeps their meaning.
    if lay != formula.layout and any(isinstance(x, Derivative) for x in walk(value)):
        raise FormulaError(
            f"gradient: {source} holds derivatives written in {formula.layout} layout; "
            f"extract in that layout, then convert to {lay}"
        )
    out = Formula(Equation(d, simplify(value, notation.symbols, layout=lay)), notation, lay)
    check(out.expr, notation.symbols, layout=lay)
    return out
