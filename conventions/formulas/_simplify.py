"""Rewrite a formula into a tidy equal form: transposes pushed down to the symbols.

Rules (applied bottom-up until nothing changes)::

    (Aᵀ)ᵀ = A          (AB)ᵀ = BᵀAᵀ          (A ± B)ᵀ = Aᵀ ± Bᵀ       (−A)ᵀ = −Aᵀ
    (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ  (A ∘ B)ᵀ = Aᵀ ∘ Bᵀ    f(A)ᵀ = f(Aᵀ) (entrywise)  (A^k)ᵀ = (Aᵀ)^k
    diag(v)ᵀ = diag(v)  diag(vᵀ) = diag(v)    Iᵀ = I   K(m,n)ᵀ = K(n,m)   sᵀ = s (scalar)
    I A = A I = A       K(m,n) K(n,m) = I     K(1,n) = K(n,1) = I
    K(p,m)(A ⊗ B) = (B ⊗ A) K(n,q)  and  (A ⊗ B) K(n,q) = K(m,p)(B ⊗ A)  when a K vanishes
    −(−A) = A           A − (−B) = A + B      (−A) B = −(A B)
    −(X (a − b) Y) = X (b − a) Y              (a sign absorbed by a difference)

With declarations the rules that depend on shapes (``diag`` of a vector, scalars, the
commutation of Kronecker factors) are applied only where the shapes allow them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from .ast import (
    ELEMENTWISE,
    Add,
    Call,
    Commutation,
    Derivative,
    Differential,
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
    Power,
    Scale,
    Sub,
    Sym,
    Transpose,
    children,
    map_children,
)
from .errors import FormulaError
from .shapes import check, kind_of
from .sizes import Shape
from .symbols import Symbol

__all__ = ["simplify"]

_MAX_ROUNDS = 50


def simplify(
    expr: Expr, symbols: Mapping[str, Symbol] | None = None, *, layout: str = "mixed"
) -> Expr:
    """An equal expression with transposes pushed down and trivial factors removed."""
    shape_of = _shape_oracle(symbols, layout)
    for _ in range(_MAX_ROUNDS):
        new = _Rewriter(shape_of).rewrite(expr)
        if new == expr:
            return new
        expr = new
    return expr


def _shape_oracle(
    symbols: Mapping[str, Symbol] | None, layout: str
) -> Callable[[Expr], Shape | None]:
    if symbols is None:
        return lambda e: None

    @functools.lru_cache(maxsize=4096)
    def shape_of(e: Expr) -> Shape | None:
        try:
            return check(e, symbols, layout=layout).shape
        except FormulaError:
            return None

    return shape_of


class _Rewriter:
    def __init__(self, shape_of: Callable[[Expr], Shape | None]) -> None:
        self.shape_of = shape_of

    def kind(self, e: Expr) -> str | None:
        shape = self.shape_of(e)
        return None if shape is None else kind_of(shape)

    def rewrite(self, e: Expr) -> Expr:
        e = map_children(e, self.rewrite)
        if isinstance(e, Transpose):
            return self.transpose(e.operand)
        if isinstance(e, Neg):
            return self.negate(e.operand)
        if isinstance(e, Sub) and isinstance(e.right, Neg):
            return Add(e.left, e.right.operand)
        if isinstance(e, Add) and isinstance(e.right, Neg):
            return Sub(e.left, e.right.operand)
        if isinstance(e, Call) and e.func == "diag" and self.kind(e.arg) in ("vector", None):
            # diag ignores a vector's orientation: keep whichever has fewer transposes.
            flipped = self.transpose(e.arg)
            if _transposes(flipped) < _transposes(e.arg):
                return Call("diag", flipped)
        if isinstance(e, Commutation) and (e.m.is_one or e.n.is_one):
            return Identity(e.m * e.n)
        if isinstance(e, Scale) and isinstance(e.operand, Scale):
            return Scale(Num(e.factor.value * e.operand.factor.value), e.operand.operand)
        if isinstance(e, MatMul):
            return self.product(e)
        if isinstance(e, Differential) and isinstance(e.operand, Neg):
            return Neg(Differential(e.operand.operand))
        if isinstance(e, Indexed):
            return self.element(e)
        return e

    def element(self, e: Indexed) -> Expr:
        """``(Xᵀ)_{ij} = X_{ji}``, ``(vᵀ)_i = v_i``, ``(−X)_{ij} = −X_{ij}``."""
        base, ix = e.base, e.indices
        if isinstance(base, Neg):
            return Neg(Indexed(base.operand, e.index))
        if isinstance(base, Transpose):
            if len(ix) == 2:
                return Indexed(base.operand, f"{ix[1]},{ix[0]}")
            if self.kind(base.operand) == "vector":
                return Indexed(base.operand, e.index)
        return e

    # -- transposes ---------------------------------------------------------------------------
    def transpose(self, a: Expr) -> Expr:
        if isinstance(a, Transpose):
            return a.operand
        if isinstance(a, MatMul):
            return MatMul(self.transpose(a.right), self.transpose(a.left))
        if isinstance(a, (Add, Sub, Hadamard, HadamardDiv)):
            # A bare 1 beside another operand takes its shape from it: no transpose needed.
            return type(a)(self.transpose_beside(a.left), self.transpose_beside(a.right))
        if isinstance(a, Kron):
            return Kron(self.transpose(a.left), self.transpose(a.right))
        if isinstance(a, Neg):
            return Neg(self.transpose(a.operand))
        if isinstance(a, Scale):
            return Scale(a.factor, self.transpose(a.operand))
        if isinstance(a, Power):
            return Power(self.transpose(a.base), a.exponent)
        if isinstance(a, (Identity, Num)):
            return a
        if isinstance(a, Ones) and a.rows is not None and a.cols is not None:
            return Ones(a.cols, a.rows)
        if isinstance(a, Commutation):
            return Commutation(a.n, a.m)
        if isinstance(a, Call):
            if a.func in (*ELEMENTWISE, "softmax"):
                return Call(a.func, self.transpose(a.arg))
            if a.func in ("tr", "sum"):
                return a
            if a.func == "diag" and self.kind(a.arg) in ("vector", "scalar", None):
                return a
        if isinstance(a, Frobenius):
            return a
        if isinstance(a, IndexSum):
            return IndexSum(self.transpose(a.body), a.lower, a.upper)
        if isinstance(a, Differential):  # (dX)ᵀ = d(Xᵀ): transposes go down to the symbols
            return Differential(self.transpose(a.operand))
        if isinstance(a, Indexed) and (len(a.indices) == 2 or self.kind(a.base) == "vector"):
            return a
        if isinstance(a, (Sym, Derivative)) and self.kind(a) == "scalar":
            return a
        return Transpose(a)

    def transpose_beside(self, a: Expr) -> Expr:
        if isinstance(a, Ones) and a.rows is None:
            return a
        return self.transpose(a)

    # -- signs ---------------------------------------------------------------------------------
    def negate(self, a: Expr) -> Expr:
        if isinstance(a, Neg):
            return a.operand
        if isinstance(a, Sub):
            return Sub(a.right, a.left)
        if isinstance(a, MatMul):
            factors = _factors(a)
            subs = [i for i, f in enumerate(factors) if isinstance(f, Sub)]
            if subs:
                # Prefer flipping a difference of plain symbols (y − ŷ → ŷ − y).
                simple = [
                    i for i in subs
                    if isinstance(getattr(factors[i], "right", None), (Sym, Transpose))
                ]
                i = (simple or subs)[0]
                f = factors[i]
                assert isinstance(f, Sub)
                factors[i] = Sub(f.right, f.left)
                return _rebuild(factors)
        return Neg(a)

    # -- products ------------------------------------------------------------------------------
    def product(self, e: MatMul) -> Expr:
        factors = _factors(e)
        sign = False
        out: list[Expr] = []
        for f in factors:
            if isinstance(f, Neg):
                sign = not sign
                f = f.operand
            out.append(f)
        out = self.commute(out)
        kept = [f for f in out if not isinstance(f, Identity)]
        if kept and len(kept) < len(out) and all(self.kind(f) == "scalar" for f in kept):
            # s I is the scalar times the identity (a matrix), not s: keep one I.
            kept.append(next(f for f in out if isinstance(f, Identity)))
        result = _rebuild(kept or out[:1])
        return self.negate(result) if sign else result

    def commute(self, fs: list[Expr]) -> list[Expr]:
        """Cancel ``K(m,n) K(n,m)`` and move a ``K`` through a Kronecker product when the
        ``K`` on the other side is the identity."""
        changed = True
        while changed:
            changed = False
            for i in range(len(fs) - 1):
                a, b = fs[i], fs[i + 1]
                if isinstance(a, Commutation) and isinstance(b, Commutation) and (
                    a.m, a.n) == (b.n, b.m):
                    fs = [*fs[:i], Identity(a.m * a.n), *fs[i + 2 :]]
                    changed = True
                    break
                if isinstance(a, Commutation) and isinstance(b, Kron):
                    sa, sb = self.shape_of(b.left), self.shape_of(b.right)
                    if sa and sb and (a.m, a.n) == (sb[0], sa[0]) and (
                        sa[1].is_one or sb[1].is_one
                    ):
                        fs = [*fs[:i], Kron(b.right, b.left), *fs[i + 2 :]]
                        changed = True
                        break
                if isinstance(a, Kron) and isinstance(b, Commutation):
                    sa, sb = self.shape_of(a.left), self.shape_of(a.right)
                    if sa and sb and (b.m, b.n) == (sa[1], sb[1]) and (
                        sa[0].is_one or sb[0].is_one
                    ):
                        fs = [*fs[:i], Kron(a.right, a.left), *fs[i + 2 :]]
                        changed = True
                        break
        return fs


def _transposes(e: Expr) -> int:
    own = 1 if isinstance(e, Transpose) else 0
    return own + sum(_transposes(c) for c in children(e))


def _factors(e: Expr) -> list[Expr]:
    if isinstance(e, MatMul):
        return _factors(e.left) + _factors(e.right)
    return [e]


def _rebuild(factors: list[Expr]) -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = MatMul(out, f)
    return out
