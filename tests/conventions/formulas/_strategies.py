"""Hypothesis strategies: random well-typed formulas over a fixed set of declarations.

Every generated tree is one the parsers can produce (``Scale`` only with a numeric
factor, a bare ``1`` only beside something that gives it a shape), so it round-trips.

Besides the matrix algebra they generate the constructs with meaning of their own, where
they are well-typed:

* element indices ``elem(v, i)``, ``elem(W, i, j)``, a matrix's row ``elem(W, i)`` — the
  letter is fixed by the size it ranges over (:data:`INDEX_LETTER`), so one letter never
  ranges over two sizes; integer indices are at most 2 (sizes are at least 2);
* element sums ``sum[i=1:m](elem(x, i) @ …)`` whose body indexes with the summed letter;
* time sums ``sum[s=1:T](…)`` over the time letter ``s``: the symbols indexed by ``s``
  (:data:`TIME_SYMBOLS`) appear only inside such a sum, so a value stacked per step is
  never needed outside one;
* differentials ``d(…)`` (never nested: second order is unsupported);
* ``lhs := rhs`` assignments at the top of :func:`formulas` (the left side a symbol or
  its transpose).

:func:`evaluation_inputs` gives the values such formulas evaluate on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from conventions import formulas as fm
from conventions.formulas import ast as A
from conventions.formulas.verify import random_sizes, random_values

M, N, P = fm.Size.of("m"), fm.Size.of("n"), fm.Size.of("p")
ONE = fm.Size(1)

TIME = "s"
"""The time letter of the generated time sums."""

TIME_SYMBOLS = {s.name: s for s in [fm.col("u[s]", "n"), fm.scalar("q[s]")]}
"""Symbols indexed by :data:`TIME`: generated only inside a sum over it."""

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
        *TIME_SYMBOLS.values(),
    ]
}
"""Names in several spellings: subscripts, time indices, hats, Greek, words."""

BY_SHAPE: dict[tuple[fm.Size, fm.Size], list[str]] = {}
TIME_BY_SHAPE: dict[tuple[fm.Size, fm.Size], list[str]] = {}
for _s in SYMBOLS.values():
    (TIME_BY_SHAPE if _s.name in TIME_SYMBOLS else BY_SHAPE).setdefault(_s.shape, []).append(
        _s.name)

SIZES = (M, N, P)
SHAPES = [(a, b) for a in (*SIZES, ONE) for b in (*SIZES, ONE)]

INDEX_LETTER = {M: "i", N: "j", P: "k"}
"""The element index letter of each size: consistent ranges by construction."""

STEPS = 3
INDICES = {"i": 2, "j": 1, "k": 2}
"""Values of the free element indices (1-based; every size is at least 2)."""

numbers = st.one_of(st.integers(2, 9), st.sampled_from([0.5, 2.5, 0.25])).map(A.Num)


def _index(draw: st.DrawFn, size: fm.Size) -> str:
    return draw(st.sampled_from([INDEX_LETTER[size], "1", "2"]))


@st.composite
def expr_of(
    draw: st.DrawFn, shape: tuple[fm.Size, fm.Size], depth: int = 3, *,
    in_time: bool = False, in_diff: bool = False,
) -> A.Expr:
    """A random expression of ``shape`` (``in_time``: inside a sum over :data:`TIME`;
    ``in_diff``: inside a differential)."""
    rows, cols = shape
    names = BY_SHAPE.get(shape, []) + (TIME_BY_SHAPE.get(shape, []) if in_time else [])
    leaves = [st.sampled_from([A.Sym(n) for n in names])] if names else []
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
    flags: dict[str, Any] = {"in_time": in_time, "in_diff": in_diff}

    def sub_expr(sub_shape: tuple[fm.Size, fm.Size], d: int = sub, **more: Any) -> A.Expr:
        return draw(expr_of(sub_shape, d, **{**flags, **more}))

    choice = draw(st.integers(0, 15))
    if choice <= 2:
        return draw(st.one_of(*leaves))
    if choice == 3:
        return A.Transpose(sub_expr((cols, rows)))
    if choice == 4:
        op = draw(st.sampled_from([A.Add, A.Sub, A.Hadamard]))
        return op(sub_expr(shape), sub_expr(shape))
    if choice == 5:
        return A.Neg(sub_expr(shape))
    if choice == 6:
        return A.Scale(draw(numbers), sub_expr(shape))
    if choice == 7:
        k = draw(st.sampled_from(SIZES))
        return A.MatMul(sub_expr((rows, k)), sub_expr((k, cols)))
    if choice == 8:
        func = draw(st.sampled_from(["tanh", "sigmoid"]))
        return A.Call(func, sub_expr(shape))
    if choice == 9 and rows == cols and rows != ONE:
        vec_shape = draw(st.sampled_from([(rows, ONE), (ONE, rows)]))
        return A.Call("diag", sub_expr(vec_shape))
    if choice == 10 and (rows == ONE or cols == ONE):
        return A.Sub(A.Ones(), A.Power(sub_expr(shape), 2))
    if choice == 11 and shape == (ONE, ONE):
        k = draw(st.sampled_from(SIZES))
        j = draw(st.sampled_from(SIZES))
        left = A.Kron(sub_expr((k, ONE), 0), sub_expr((j, ONE), 0))
        right = A.Kron(sub_expr((k, ONE), 0), sub_expr((j, ONE), 0))
        return A.MatMul(A.Transpose(left), right)
    if choice == 12 and rows == ONE:  # an element (or a matrix's row)
        k = draw(st.sampled_from(SIZES))
        if cols != ONE:
            return A.Indexed(sub_expr((k, cols)), _index(draw, k))
        form = draw(st.integers(0, 2))
        if form == 2:
            j = draw(st.sampled_from(SIZES))
            return A.Indexed(sub_expr((k, j)), f"{_index(draw, k)},{_index(draw, j)}")
        vec_shape = (k, ONE) if form == 0 else (ONE, k)
        return A.Indexed(sub_expr(vec_shape), _index(draw, k))
    if choice == 13:  # an element sum: the body indexes with the summed letter
        k = draw(st.sampled_from(SIZES))
        letter = INDEX_LETTER[k]
        vec_shape = draw(st.sampled_from([(k, ONE), (ONE, k)]))
        element = A.Indexed(sub_expr(vec_shape), letter)
        if shape == (ONE, ONE):
            body: A.Expr = A.MatMul(element, A.Indexed(sub_expr((k, ONE)), letter))
        elif rows == ONE and draw(st.booleans()):
            body = A.Indexed(sub_expr((k, cols)), letter)
        else:
            body = A.MatMul(element, sub_expr(shape))
        lower = draw(st.sampled_from([letter, f"{letter}=1"]))
        upper = draw(st.sampled_from([None, str(k)]))
        return A.IndexSum(body, lower, upper)
    if choice == 14:  # a time sum over s: its symbols appear inside it only
        body = sub_expr(shape, in_time=True)
        if not any(isinstance(x, A.Sym) and x.name in TIME_SYMBOLS for x in A.walk(body)):
            body = (A.Add(body, A.Sym(TIME_BY_SHAPE[shape][0])) if shape in TIME_BY_SHAPE
                    else A.MatMul(A.Sym("q[s]"), body))
        lower = draw(st.sampled_from([TIME, f"{TIME}=1"]))
        return A.IndexSum(body, lower, draw(st.sampled_from([None, "T"])))
    if choice == 15 and not in_diff:
        return A.Differential(sub_expr(shape, in_diff=True))
    return draw(st.one_of(*leaves))


shapes = st.sampled_from(SHAPES)


@st.composite
def assignments(draw: st.DrawFn, shape: tuple[fm.Size, fm.Size], depth: int = 3) -> A.Relation:
    """``X := …``: the left side a symbol of ``shape`` or the transpose of one."""
    rows, cols = shape
    lhs = [A.Sym(n) for n in BY_SHAPE.get(shape, [])]
    lhs += [A.Transpose(A.Sym(n)) for n in BY_SHAPE.get((cols, rows), []) if rows != cols]
    target = draw(st.sampled_from(lhs)) if lhs else A.Sym("alpha")
    if not lhs:
        shape = (ONE, ONE)
    return A.Relation(":=", target, draw(expr_of(shape, depth)))


@st.composite
def formulas(draw: st.DrawFn, depth: int = 3) -> A.Expr:
    """A random well-typed expression of a random shape (now and then an assignment)."""
    shape = draw(shapes)
    if draw(st.integers(0, 9)) == 0:
        return draw(assignments(shape, depth))
    return draw(expr_of(shape, depth))


@st.composite
def equations(draw: st.DrawFn) -> A.Equation:
    """``∂s/∂X = …`` with a random right-hand side, for syntax round trips (untyped)."""
    num = A.Sym(draw(st.sampled_from(["J[t]", "alpha", "L"])))
    den = A.Sym(draw(st.sampled_from(list(SYMBOLS))))
    kind = draw(st.sampled_from(["partial", "nabla"]))
    at = draw(st.sampled_from([None, "t"])) if kind == "partial" else None
    step = draw(st.sampled_from([None, "t"])) if kind == "nabla" else None
    return A.Equation(A.Derivative(num, den, kind, at, step), draw(expr_of(draw(shapes))))


def evaluation_inputs(
    symbols: dict[str, fm.Symbol], seed: int,
) -> tuple[dict[Any, np.ndarray], dict[str, int]]:
    """Values for generated formulas: the symbols (those indexed by :data:`TIME` stacked
    over :data:`STEPS` steps, time leading), a direction ``d X`` for every symbol, and the
    sizes (``T`` included)."""
    rng = np.random.default_rng(seed)
    sizes = {**random_sizes(symbols, rng), "T": STEPS}
    values: dict[Any, np.ndarray] = dict(random_values(symbols, sizes, rng))
    for name in TIME_SYMBOLS:
        if name in symbols:
            values[name] = np.stack([random_values({name: symbols[name]}, sizes, rng)[name]
                                     for _ in range(STEPS)])
    for name, s in symbols.items():
        shape = (s.shape[0].value(sizes), s.shape[1].value(sizes))
        values[A.Differential(A.Sym(name))] = rng.uniform(-1.0, 1.0, shape)
    return values, sizes
