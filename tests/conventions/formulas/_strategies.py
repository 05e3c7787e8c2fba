"""Hypothesis strategies: random well-typed formulas over a fixed set of declarations.

Every generated tree is one the parsers can produce (``Scale`` only with a numeric
factor, a bare ``1`` only beside something that gives it a shape), so it round-trips.
"""

from __future__ import annotations

from hypothesis import strategies as st

from conventions import formulas as fm
from conventions.formulas import ast as A

M, N, P = fm.Size.of("m"), fm.Size.of("n"), fm.Size.of("p")
ONE = fm.Size(1)

SYMBOLS = {
    s.name: s
    for s in [
        fm.matrix("W_hh", "m", "n"),
        fm.matrix("V", "n", "p"),
        fm.matrix("C", "m", "m"),
        fm.matrix("kernel", "n", "m"),
        fm.col("h[t-1]", "n"),
        fm.col("yhat[t]", "m"),
        fm.col("z_a[t]", "p"),
        fm.row("e_1", "m"),
        fm.scalar("alpha"),
        fm.scalar("J[t]"),
    ]
}
"""Names in several spellings: subscripts, time indices, hats, Greek, words."""

BY_SHAPE: dict[tuple[fm.Size, fm.Size], list[str]] = {}
for _s in SYMBOLS.values():
    BY_SHAPE.setdefault(_s.shape, []).append(_s.name)

SIZES = (M, N, P)
SHAPES = [(a, b) for a in (*SIZES, ONE) for b in (*SIZES, ONE)]

numbers = st.one_of(st.integers(2, 9), st.sampled_from([0.5, 2.5, 0.25])).map(A.Num)


@st.composite
def expr_of(draw: st.DrawFn, shape: tuple[fm.Size, fm.Size], depth: int = 3) -> A.Expr:
    """A random expression of ``shape``."""
    rows, cols = shape
    leaves = [st.sampled_from([A.Sym(n) for n in BY_SHAPE.get(shape, [])])] if BY_SHAPE.get(
        shape) else []
    if rows == cols and rows != ONE:
        leaves.append(st.just(A.Identity(rows)))
    if shape == (ONE, ONE):
        leaves.append(numbers)
    if depth <= 0 or not leaves:
        if not leaves:
            # Build it from the transpose, or an outer product, when no symbol has this shape.
            if BY_SHAPE.get((cols, rows)):
                return A.Transpose(A.Sym(draw(st.sampled_from(BY_SHAPE[(cols, rows)]))))
            k = draw(st.sampled_from(SIZES))
            return A.MatMul(draw(expr_of((rows, k), 0)), draw(expr_of((k, cols), 0)))
        return draw(st.one_of(*leaves))
    sub = depth - 1
    choice = draw(st.integers(0, 11))
    if choice <= 2:
        return draw(st.one_of(*leaves))
    if choice == 3:
        return A.Transpose(draw(expr_of((cols, rows), sub)))
    if choice == 4:
        op = draw(st.sampled_from([A.Add, A.Sub, A.Hadamard]))
        return op(draw(expr_of(shape, sub)), draw(expr_of(shape, sub)))
    if choice == 5:
        return A.Neg(draw(expr_of(shape, sub)))
    if choice == 6:
        return A.Scale(draw(numbers), draw(expr_of(shape, sub)))
    if choice == 7:
        k = draw(st.sampled_from(SIZES))
        return A.MatMul(draw(expr_of((rows, k), sub)), draw(expr_of((k, cols), sub)))
    if choice == 8:
        func = draw(st.sampled_from(["tanh", "sigmoid"]))
        return A.Call(func, draw(expr_of(shape, sub)))
    if choice == 9 and rows == cols and rows != ONE:
        vec_shape = draw(st.sampled_from([(rows, ONE), (ONE, rows)]))
        return A.Call("diag", draw(expr_of(vec_shape, sub)))
    if choice == 10 and (rows == ONE or cols == ONE):
        return A.Sub(A.Ones(), A.Power(draw(expr_of(shape, sub)), 2))
    if choice == 11 and shape == (ONE, ONE):
        k = draw(st.sampled_from(SIZES))
        j = draw(st.sampled_from(SIZES))
        left = A.Kron(draw(expr_of((k, ONE), 0)), draw(expr_of((j, ONE), 0)))
        right = A.Kron(draw(expr_of((k, ONE), 0)), draw(expr_of((j, ONE), 0)))
        return A.MatMul(A.Transpose(left), right)
    return draw(st.one_of(*leaves))


shapes = st.sampled_from(SHAPES)


@st.composite
def formulas(draw: st.DrawFn, depth: int = 3) -> A.Expr:
    """A random well-typed expression of a random shape."""
    return draw(expr_of(draw(shapes), depth))


@st.composite
def equations(draw: st.DrawFn) -> A.Equation:
    """``∂s/∂X = …`` with a random right-hand side, for syntax round trips (untyped)."""
    num = A.Sym(draw(st.sampled_from(["J[t]", "alpha", "L"])))
    den = A.Sym(draw(st.sampled_from(list(SYMBOLS))))
    kind = draw(st.sampled_from(["partial", "nabla"]))
    at = draw(st.sampled_from([None, "t"])) if kind == "partial" else None
    step = draw(st.sampled_from([None, "t"])) if kind == "nabla" else None
    return A.Equation(A.Derivative(num, den, kind, at, step), draw(formulas()))
