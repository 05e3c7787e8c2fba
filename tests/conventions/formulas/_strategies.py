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

import functools
from typing import Any

import numpy as np
from hypothesis import strategies as st

from conventions import formulas as fm
from conventions.formulas import ast as A
from conventions.formulas._verify import random_sizes, random_values

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


# -- syntax trees: every construct the parsers read ------------------------------------------
# Untyped trees for the round trip ``parse(render(f)) == f``: shapes do not matter, only
# that each tree is one a parser can produce. Names cover the name grammar (names.py):
# one-letter and word bases, Greek, hats, primes, subscripts with '_', '+', '-', ',', step
# indices (t, t-1, t+1, tau, k, T, 0). They are all declared, so none is re-read as a step
# (h_t for h[t]), an element (y_j of y) or a product of letters.

NAME_BASES = ("a", "x", "W", "U", "h", "T", "e", "y", "alpha", "delta", "tau", "sigma",
              "Sigma", "kernel", "dW", "dh", "yhat", "hhat", "xyhat", "a'", "W''", "yhat'")
NAME_SUBS = (None, "hh", "1", "x", "_", "hh_l0", "t+1", "t-1", "i,j", "xh2")
NAME_STEPS = (None, "t", "t-1", "t+1", "tau", "k", "T", "0", "t-2")


def _names() -> tuple[str, ...]:
    from conventions.formulas.names import make_name

    out = []
    for i, base in enumerate(NAME_BASES):
        for j, sub in enumerate(NAME_SUBS):
            # A deterministic sample of the product: every base, subscript and step occurs.
            step = NAME_STEPS[(i + 3 * j) % len(NAME_STEPS)]
            out.append(make_name(base, sub, step))
            out.append(make_name(base, sub, None))
    return tuple(dict.fromkeys(out))


NAMES = _names()
DECLARED = frozenset(NAMES)
"""The names the syntax trees use, all declared when parsing them back."""

_SIZE_TEXTS = ("n", "n_h", "2", "m*n", "3*n_x")
_STEP_ARGS = ("t", "t-1", "t+1", "tau", "k", "T", "2")
_SUM_LIMITS = ((None, None), ("t", None), ("t=1", "T"), ("j=1", "n"), ("k", "t"),
               ("s=0", "T-1"), (None, "T"))
_RELATIONS = tuple(A.RELATION_TEXT)


def _size(text: str) -> fm.Size:
    return fm.parse_size(text)


_SYMS = st.sampled_from([A.Sym(n) for n in NAMES])
_NUMS = st.one_of(st.sampled_from([0, 2, 3, 7, 12]),
                  st.sampled_from([0.5, 2.5, 0.25, 10.75, 3.0])).map(A.Num)
_OTHER_LEAVES = st.sampled_from([
    A.Ones(), A.Ones(_size("n"), _size("1")), A.Ones(_size("m"), _size("n")),
    A.Ones(_size("n_h"), _size("2")), A.Identity(),
    *(A.Identity(_size(t)) for t in _SIZE_TEXTS),
    A.Commutation(_size("m"), _size("n")), A.Commutation(_size("n_h"), _size("n_x")),
    A.Commutation(_size("2"), _size("n")),
])
_LEAVES = st.one_of(_SYMS, _SYMS, _NUMS, _OTHER_LEAVES)


def syntax_leaf() -> st.SearchStrategy[A.Expr]:
    """A symbol (any spelling of :data:`NAMES`), a number, ``1``, ``I`` or ``K``."""
    return _LEAVES


_BINARY = st.sampled_from([A.Add, A.Sub, A.MatMul, A.Hadamard, A.HadamardDiv, A.Kron])
_FUNCS = st.sampled_from(A.FUNCTIONS)
_PRIMED = st.sampled_from(["tanh'", "sigmoid'"])
_EXPONENTS = st.sampled_from([2, 3, -1, -2])
_FACTORS = st.sampled_from([2, 3, 9, 0.5, 2.5])
_KINDS = st.sampled_from(["partial", "nabla"])
_STEPS = st.sampled_from([None, *_STEP_ARGS])
_LIMITS = st.sampled_from(_SUM_LIMITS)
_ELEMENTS = st.sampled_from(["i", "j", "k", "i,j", "1", "2", "1,2", "i,2"])
_CHOICES = st.integers(0, 22)
_SIXTHS = st.integers(0, 5)
_BARS = st.sampled_from(["t", "t-1", "T", "k"])


def _copies() -> list[tuple[A.Sym, str]]:
    """``(W, t)`` such that ``W^{(t)}`` is the book's step copy of ``W``: ``W`` declared
    without a step, ``W[t]`` neither declared (a declared one is that symbol) nor read
    otherwise (``x_{i,j}^{(t)}`` is the entry ``i, j`` of a declared ``x^{(t)}``)."""
    from conventions.formulas.names import make_name, split_name

    out = []
    for name in NAMES:
        base, sub, time = split_name(name)
        for at in ("t", "t-1", "T", "k"):
            stepped = make_name(base, sub, at)
            if time is None and stepped not in DECLARED and fm.parse(
                    stepped, "text", declared=DECLARED) == A.Sym(stepped):
                out.append((A.Sym(name), at))
    return out


_COPIES = st.sampled_from(_copies())


def syntax_expr(depth: int = 3, *, in_diff: bool = False) -> st.SearchStrategy[A.Expr]:
    """A random tree of any node the parsers produce (``in_diff``: inside a differential,
    which does not nest)."""
    return _syntax_expr(depth, in_diff)


@functools.cache
def _syntax_expr(depth: int, in_diff: bool) -> st.SearchStrategy[A.Expr]:
    # One strategy object per (depth, in_diff): building them anew per draw costs more
    # than the round trip itself.
    return _build_syntax_expr(depth, in_diff)


@st.composite
def _build_syntax_expr(draw: st.DrawFn, depth: int, in_diff: bool) -> A.Expr:
    if depth <= 0:
        return draw(_LEAVES)

    def sub(**more: Any) -> A.Expr:
        return draw(_syntax_expr(depth - 1, more.get("in_diff", in_diff)))

    choice = draw(_CHOICES)
    if choice <= 2:
        return draw(_LEAVES)
    if choice == 3:
        return A.Transpose(sub())
    if choice == 4:
        return A.Neg(sub())
    if choice == 5:
        return A.Power(sub(), draw(_EXPONENTS))
    if choice == 6:
        return A.Scale(A.Num(draw(_FACTORS)), sub())
    if choice in (7, 8):
        op = draw(_BINARY)
        left, right = sub(), sub()
        if op is A.HadamardDiv and isinstance(left, A.Differential) and isinstance(
                right, A.Differential):
            op = A.Hadamard  # d x / d y is the derivative dx/dy, never a quotient
        return op(left, right)
    if choice == 9:
        return A.MatMul(sub(), sub())
    if choice == 10:
        return A.Kron(sub(), sub())
    if choice == 11:
        return A.Call(draw(_FUNCS), sub())
    if choice == 12:
        return A.Frobenius(sub(), sub())
    if choice == 13:
        kind = draw(_KINDS)
        step = draw(_STEPS) if kind == "nabla" else None
        if kind == "nabla" and draw(_SIXTHS) == 0:
            # Local to a step: the DL book's copy ∇_{W^{(t)}} of an unstepped parameter.
            den, at = draw(_COPIES)
            return A.Derivative(sub(), den, kind, at, step)
        return A.Derivative(sub(), sub(), kind, None, step)
    if choice == 14:
        lower, upper = draw(_LIMITS)
        return A.IndexSum(sub(), lower, upper)
    if choice == 15:
        return A.Indexed(sub(), draw(_ELEMENTS))
    if choice == 16 and not in_diff:
        return A.Differential(sub(in_diff=True))
    if choice == 17:
        return A.Transpose(A.Kron(sub(), sub()))
    if choice == 18:
        # Juxtaposed products with a Kronecker product: AC ⊗ BD and (A⊗B)(C⊗D).
        a, b, c, e = sub(), sub(), sub(), sub()
        if draw(_SIXTHS) < 3:
            return A.Kron(A.MatMul(a, b), A.MatMul(c, e))
        return A.MatMul(A.Kron(a, b), A.Kron(c, e))
    if choice == 19:
        return A.Call(draw(_PRIMED), sub())
    if choice == 20:
        return A.Hadamard(A.Sub(A.Ones(), A.Power(sub(), 2)), sub())
    return A.MatMul(draw(_LEAVES), sub())


_RELATION_OPS = st.sampled_from(_RELATIONS)


@functools.cache
def _side(depth: int) -> st.SearchStrategy[A.Expr]:
    return _build_side(depth)


@st.composite
def _build_side(draw: st.DrawFn, depth: int) -> A.Expr:
    if draw(_SIXTHS) == 0:
        # An evaluation bar closes a whole side: ∂J/∂H|_t.
        return A.Derivative(draw(_syntax_expr(depth - 1, False)),
                            draw(_syntax_expr(depth - 1, False)), "partial", draw(_BARS))
    return draw(_syntax_expr(depth, False))


@functools.cache
def statements(depth: int = 3) -> st.SearchStrategy[A.Expr]:
    """A random equation or relation (``:=``, ``\\neq`` …) between any trees."""
    return _build_statements(depth)


@st.composite
def _build_statements(draw: st.DrawFn, depth: int) -> A.Expr:
    if draw(_SIXTHS) <= 1:
        return A.Relation(draw(_RELATION_OPS), draw(_side(depth - 1)), draw(_side(depth - 1)))
    return A.Equation(draw(_side(depth - 1)), draw(_side(depth)))


def syntax_formulas(depth: int = 3) -> st.SearchStrategy[A.Expr]:
    """A random expression, equation or relation of any node the parsers produce."""
    return st.one_of(_side(depth), statements(depth), statements(depth))


def chains(depth: int = 3) -> st.SearchStrategy[list[A.Expr]]:
    """The sides of a chain ``a = b = c …`` (two to four of them)."""
    return st.lists(_syntax_expr(depth, False), min_size=2, max_size=4)


def blocks(depth: int = 3) -> st.SearchStrategy[list[A.Expr]]:
    """The statements of a derivation block, one a line (one to four)."""
    return st.lists(statements(depth), min_size=1, max_size=4)
