"""Truth: a statement's two sides are equal, at random values of its symbols.

:func:`~conventions.formulas._verify` checks that a *conversion* says what its source says;
this module checks that a statement is *true*. Both sides are evaluated at random values
that respect the declared shapes and assumptions (:data:`ASSUMPTIONS`); a derivative is
computed from the expression it differentiates, by forward-mode differentiation of that
expression (exact, the same rules as :func:`~conventions.formulas._evaluate` uses for
``d X``), and laid out in the formula's layout — so a Matrix Cookbook identity such as
``∂(xᵀBx)/∂x = (B + Bᵀ)x`` is checked as written, not against a table.

A false statement is diagnosed by the edits that would make it true, tried one at a time
on the right-hand side: a missing ``Σ_t`` (the left side sums over a step the right
side leaves free), negated, transposed, off by a constant factor, a transpose missing or
extra on one symbol, a sign slip (``-`` for ``+``), lost parentheses (``1 - h² w`` for
``(1 - h²) w``), and, for a derivative, another layout. A side that leaves a summed
step free is compared with the other side at every step.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ._convert import peel
from ._evaluate import evaluate
from ._render import render
from ._verify import _free_indices, derivative_map, derivative_value, random_sizes
from .ast import (
    Add,
    Derivative,
    Differential,
    Equation,
    Expr,
    Hadamard,
    IndexSum,
    Kron,
    MatMul,
    Neg,
    ParseOnly,
    Relation,
    Sub,
    Sym,
    Transpose,
    children,
    map_children,
    walk,
)
from .errors import FormulaError
from .notation import Formula
from .shapes import LAYOUTS, check, time_var_in
from .symbols import Symbol

__all__ = ["ASSUMPTIONS", "Truth", "check_truth", "parse_assumptions"]

ASSUMPTIONS: tuple[str, ...] = (
    "symmetric", "diagonal", "orthogonal", "positive definite", "one-hot", "probability",
)
"""What may be assumed of a symbol's values: the first four of square matrices, the last
two of vectors (``probability``: positive entries summing to 1)."""

Verdict = Literal["true", "false", "not judged"]


@dataclass(frozen=True)
class Truth:
    """The outcome of :func:`check_truth`.

    Attributes:
        verdict: ``"true"`` (both sides agree on every draw), ``"false"``, or
            ``"not judged"`` (the statement cannot be evaluated: see ``message``).
        error: the worst normwise relative difference of the two sides.
        diagnosis: for a false statement, the edit that makes it true, in words
            (``"negated"``, ``"sign slip: ..."``), or ``""`` when none was found.
        message: one line for people.
        sizes: the sizes of the last draw.
    """

    verdict: Verdict
    error: float
    diagnosis: str = ""
    message: str = ""
    sizes: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "true"

    def __bool__(self) -> bool:
        return self.passed


def parse_assumptions(text: str) -> dict[str, str]:
    """``"B: symmetric, p: probability"`` → ``{"B": "symmetric", "p": "probability"}``."""
    out: dict[str, str] = {}
    for piece in filter(str.strip, text.replace(";", ",").split(",")):
        name, sep, what = piece.partition(":")
        name, what = name.strip(), " ".join(what.replace("_", " ").split()).lower()
        what = {"onehot": "one-hot", "one hot": "one-hot", "pd": "positive definite",
                "spd": "positive definite", "probability vector": "probability"}.get(what, what)
        if not sep or not name or what not in ASSUMPTIONS:
            raise FormulaError(
                f"assumption {piece.strip()!r}: expected 'name: kind' with kind one of "
                f"{', '.join(ASSUMPTIONS)}"
            )
        out[name] = what
    return out


def _draw(
    symbols: Mapping[str, Symbol], sizes: Mapping[str, int], assume: Mapping[str, str],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, s in symbols.items():
        rows, cols = s.shape[0].value(sizes), s.shape[1].value(sizes)
        out[name] = _value(name, rows, cols, assume.get(name), rng)
    return out


def _value(name: str, rows: int, cols: int, kind: str | None,
           rng: np.random.Generator) -> np.ndarray:
    m = rng.uniform(0.5, 1.5, (rows, cols))
    if kind is None:
        return m
    if kind in ("one-hot", "probability"):
        if 1 not in (rows, cols):
            raise FormulaError(f"assumption on {name!r}: {kind} is for vectors, "
                               f"got shape ({rows}, {cols})")
        if kind == "one-hot":
            v = np.zeros(rows * cols)
            v[int(rng.integers(rows * cols))] = 1.0
            return v.reshape(rows, cols)
        return m / m.sum()
    if rows != cols:
        raise FormulaError(f"assumption on {name!r}: {kind} is for square matrices, "
                           f"got shape ({rows}, {cols})")
    if kind == "symmetric":
        return (m + m.T) / 2
    if kind == "diagonal":
        return np.diag(np.diag(m))
    if kind == "orthogonal":
        q, r = np.linalg.qr(rng.standard_normal((rows, rows)))
        return q * np.sign(np.diag(r))
    return m @ m.T + rows * np.eye(rows)  # positive definite


class _NotJudged(Exception):
    pass


def _time_vars(expr: Expr) -> list[str]:
    return [e.var for e in walk(expr) if isinstance(e, IndexSum) and e.var is not None]


def _free_steps(expr: Expr, times: Collection[str]) -> set[str]:
    """The time letters of ``times`` that a symbol or per-step derivative of ``expr``
    carries outside every sum over that letter (``a^{(t)} b^{(t)ᵀ}`` against
    ``Σ_t a^{(t)} b^{(t)ᵀ}``)."""
    out: set[str] = set()

    def visit(e: Expr, bound: frozenset[str]) -> None:
        if isinstance(e, IndexSum) and e.var is not None:
            bound = bound | {e.var}
        if isinstance(e, (Sym, Derivative)):
            out.update(v for v in times if v not in bound and time_var_in(e, v))
        for child in children(e):
            visit(child, bound)

    visit(expr, frozenset())
    return out


def _limits(lhs: Expr, var: str) -> tuple[str | None, str | None]:
    """The limits the left side writes on its sum over ``var`` (``t=1``, ``T``), so that
    the suggested sum reads like the left side's."""
    for e in walk(lhs):
        if isinstance(e, IndexSum) and e.var == var:
            return e.lower, e.upper
    return var, None


def _derivative_value(
    d: Derivative, formula: Formula, values: Mapping[Any, np.ndarray],
    sizes: Mapping[str, int], layout: str,
) -> np.ndarray:
    symbols = formula.notation.symbols
    if any(isinstance(x, Derivative) for x in walk(d.num) if x is not d.num) or isinstance(
            d.num, Derivative):
        raise _NotJudged(f"{render(d, 'text')}: a derivative of a derivative")
    den = peel(d.den, symbols)
    if den.opaque is not None:
        raise _NotJudged(f"{render(d, 'text')}: the denominator {render(d.den, 'text')} "
                         "is not a symbol (or its transpose, vec)")
    num = peel(d.num, symbols)
    # A compound numerator is its own core, entry by entry, as written (sign included).
    core_expr = d.num if num.opaque is not None else Sym(num.core)
    if core_expr == Sym(num.core) and num.core != den.core:
        raise _NotJudged(
            f"{render(d, 'text')}: {num.core} is a symbol of its own, not a function of "
            f"{den.core}; define it earlier in the block ({num.core} = ...)"
        )
    m = derivative_map(d, formula.notation, layout, sizes)
    typed = check(Differential(core_expr), symbols)
    n_den = m.core_sizes[1]
    shape = values[den.core].shape
    cols = []
    for k in range(n_den):
        e = np.zeros(n_den)
        e[k] = 1.0
        tangent = evaluate(typed, {**values, Differential(Sym(den.core)): e.reshape(shape)},
                           sizes=sizes)
        cols.append(np.asarray(tangent).reshape(-1))
    J_core = np.stack(cols, axis=1)
    return derivative_value(J_core, m)


def _values_with_derivatives(
    formula: Formula, expr: Expr, values: dict[Any, np.ndarray], sizes: Mapping[str, int],
    layout: str,
) -> dict[Any, np.ndarray]:
    out = dict(values)
    for d in [e for e in walk(expr) if isinstance(e, Derivative)]:
        if d not in out:
            out[d] = _derivative_value(d, formula, values, sizes, layout)
    return out


_STEPS = 3  # the steps a time sum runs over in a random draw


def _stack_steps(
    formula: Formula, expr: Expr, values: dict[Any, np.ndarray], sizes: Mapping[str, int],
    assume: Mapping[str, str], rng: np.random.Generator, steps: int = _STEPS,
) -> None:
    """Symbols indexed by a sum's time letter get one value per step, stacked."""
    for var in _time_vars(expr):
        for name, s in formula.notation.symbols.items():
            if time_var_in(Sym(name), var) and values[name].ndim == 2:
                rows, cols = s.shape[0].value(sizes), s.shape[1].value(sizes)
                values[name] = np.stack([_value(name, rows, cols, assume.get(name), rng)
                                         for _ in range(steps)])


def check_truth(
    formula: Formula,
    *,
    assume: Mapping[str, str] | None = None,
    seed: int = 0,
    trials: int = 3,
    rtol: float = 1e-9,
) -> Truth:
    """Whether ``formula`` (an equation) is true: both sides at random values.

    Args:
        formula: an equation in a notation whose symbols are its own (declared ad hoc, or
            canonical); derivatives are computed from the expressions they differentiate.
        assume: name → one of :data:`ASSUMPTIONS` (``{"B": "symmetric"}``).
        seed, trials: the random draws (sizes redrawn each trial).
        rtol: the normwise relative tolerance (the arithmetic is exact up to rounding).
    """
    assume = dict(assume or {})
    unknown = sorted(set(assume) - set(formula.notation.symbols))
    if unknown:
        raise FormulaError(f"assume: {', '.join(map(repr, unknown))} is not a declared symbol")
    expr = formula.expr
    if isinstance(expr, Relation):
        return Truth("not judged", float("nan"), message=(
            f"not judged: {expr.op} is a definition or a comparison, not an equation"))
    if not isinstance(expr, Equation):
        return Truth("not judged", float("nan"), message="not judged: no '=' to check")
    parse_only = [e for e in walk(expr) if isinstance(e, ParseOnly)]
    if parse_only:
        return Truth("not judged", float("nan"), message=(
            f"not judged: {parse_only[0].construct} has no value"))
    rng = np.random.default_rng(seed)
    draws = []
    try:
        for _ in range(trials):
            sizes = random_sizes(formula.notation.symbols, rng)
            for e in walk(expr):
                if isinstance(e, IndexSum) and e.upper is not None and e.upper.isalpha():
                    sizes.setdefault(e.upper, 3)
            values: dict[Any, np.ndarray] = _draw(formula.notation.symbols, sizes, assume, rng)
            _stack_steps(formula, expr, values, sizes, assume, rng)
            values = _values_with_derivatives(formula, expr, values, sizes, formula.layout)
            free = _free_indices(formula.typed(), sizes)
            combos = [dict(zip(sorted(free), c, strict=True)) for c in itertools.islice(
                itertools.product(*(range(1, free[n] + 1) for n in sorted(free))), 6)]
            draws.append((sizes, values, combos or [{}]))
    except _NotJudged as exc:
        return Truth("not judged", float("nan"), message=f"not judged: {exc}")
    times = _time_vars(expr)

    def step_combos(lhs: Expr, rhs: Expr) -> list[dict[str, int]]:
        # A step a sum binds on one side and leaves free on the other (a dropped Σ): the
        # free side is compared at every step of the stacked values, 1-based.
        free = sorted(_free_steps(lhs, times) | _free_steps(rhs, times))
        return [dict(zip(free, c, strict=True)) for c in itertools.product(
            *(range(1, _STEPS + 1) for _ in free))]

    def difference(lhs: Expr, rhs: Expr, layout: str = formula.layout) -> float:
        worst = 0.0
        for sizes, values, combos in draws:
            vals = values
            if layout != formula.layout:
                vals = _values_with_derivatives(
                    formula, lhs, {k: v for k, v in values.items()
                                   if not isinstance(k, Derivative)}, sizes, layout)
                vals = {**values, **{k: v for k, v in vals.items()
                                     if isinstance(k, Derivative)}}
            typed = check(Equation(lhs, rhs), formula.notation.symbols, layout=layout)
            for indices, at in itertools.product(combos, step_combos(lhs, rhs)):
                # evaluated as sides of one equation: a bare I takes the other side's size
                a = np.asarray(evaluate(typed.args[0], vals, sizes=sizes, indices=indices,
                                        steps=at))
                b = np.asarray(evaluate(typed.args[1], values, sizes=sizes, indices=indices,
                                        steps=at))
                if a.shape != b.shape:
                    return float("inf")
                scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
                worst = max(worst, float(np.linalg.norm(a - b)) / scale)
        return worst

    error = difference(expr.lhs, expr.rhs)
    sizes = draws[-1][0]
    text = render(expr, "text")
    if error <= rtol:
        return Truth("true", error, message=(
            f"verified (true): both sides agree to {error:.1e} at {trials} random draw(s) "
            f"of {', '.join(formula.notation.symbols)}"
            + (f" under {', '.join(f'{k} {v}' for k, v in assume.items())}" if assume else "")
        ), sizes=sizes)
    diagnosis = _diagnose(formula, expr, difference, rtol)
    message = f"FALSE: the two sides differ by {error:.1e} (relative) in {text}"
    if diagnosis:
        message += f"; {diagnosis}"
    return Truth("false", error, diagnosis, message, sizes)


def _diagnose(formula: Formula, expr: Equation, difference: Any, rtol: float) -> str:
    """The first single edit of the right side (or of the layout) that makes it true."""
    symbols = formula.notation.symbols
    for what, variant in itertools.chain(_missing_sums(expr), _variants(expr.rhs, symbols)):
        try:
            check(Equation(expr.lhs, variant), symbols, layout=formula.layout)
            if difference(expr.lhs, variant) <= max(rtol, 1e-9):
                return what
        except FormulaError:
            continue
    if isinstance(expr.lhs, Derivative):
        for layout in LAYOUTS:
            if layout == formula.layout:
                continue
            try:
                if difference(expr.lhs, expr.rhs, layout) <= max(rtol, 1e-9):
                    return (f"wrong layout: the right side is the {layout}-layout derivative; "
                            f"the formula is read in the {formula.layout} layout")
            except FormulaError:
                continue
    factor = _factor(formula, expr, difference)
    return factor


def _factor(formula: Formula, expr: Equation, difference: Any) -> str:
    for c in (2.0, 0.5, 3.0, 1 / 3, 4.0, 0.25):
        from .ast import Num, Scale

        try:
            if difference(expr.lhs, Scale(Num(c), expr.rhs)) <= 1e-9:
                shown = f"{c:g}" if c >= 1 else f"1/{1 / c:g}"
                return (f"missing factor: the statement holds with the right side times "
                        f"{shown}")
        except FormulaError:
            continue
    return ""


def _missing_sums(expr: Equation) -> Iterator[tuple[str, Expr]]:
    """The right side summed over a step the left side sums out and the right side
    leaves free (the DL book's ∇_W L = Σ_t … printed without its Σ_t)."""
    times = _time_vars(expr)
    for var in sorted(_free_steps(expr.rhs, times) - _free_steps(expr.lhs, times)):
        summed = IndexSum(expr.rhs, *_limits(expr.lhs, var))
        yield (f"missing Σ: it holds summed over {var}, as {render(summed, 'text')}", summed)


def _variants(rhs: Expr, symbols: Mapping[str, Symbol]) -> Iterator[tuple[str, Expr]]:
    yield "negated: the right side has the wrong sign", Neg(rhs)
    yield "transposed: the right side is the transpose of the true one", Transpose(rhs)
    for path, node in _nodes(rhs):
        shown = render(node, "text")
        if isinstance(node, Sub):
            yield (f"sign slip: it holds with + in place of - in {shown}",
                   _replace(rhs, path, Add(node.left, node.right)))
        if isinstance(node, Add):
            yield (f"sign slip: it holds with - in place of + in {shown}",
                   _replace(rhs, path, Sub(node.left, node.right)))
        if isinstance(node, Neg):
            yield (f"sign slip: it holds without the minus of {shown}",
                   _replace(rhs, path, node.operand))
        if isinstance(node, Transpose):
            yield (f"transposed: it holds without the transpose of {shown}",
                   _replace(rhs, path, node.operand))
        if isinstance(node, Sym) and node.name in symbols:
            yield (f"transposed: it holds with {node.name}ᵀ in place of {node.name}",
                   _replace(rhs, path, Transpose(node)))
        for regrouped in _regroupings(node):
            yield (f"lost parentheses: it holds as {render(regrouped, 'text')} "
                   f"(written {shown})", _replace(rhs, path, regrouped))


_PRODUCTS = (MatMul, Hadamard, Kron)


def _regroupings(node: Expr) -> Iterator[Expr]:
    """``a - b c`` ↔ ``(a - b) c`` and ``a (b + c)`` ↔ ``a b + c``: one pair of
    parentheses moved."""
    if isinstance(node, (Add, Sub)) and isinstance(node.right, _PRODUCTS):
        p = node.right
        yield type(p)(type(node)(node.left, p.left), p.right)
    if isinstance(node, _PRODUCTS) and isinstance(node.left, (Add, Sub)):
        s = node.left
        yield type(s)(s.left, type(node)(s.right, node.right))
    if isinstance(node, _PRODUCTS) and isinstance(node.right, (Add, Sub)):
        s = node.right
        yield type(s)(type(node)(node.left, s.left), s.right)


def _nodes(expr: Expr, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Expr]]:
    yield path, expr
    from .ast import children

    for i, child in enumerate(children(expr)):
        yield from _nodes(child, (*path, i))


def _replace(expr: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    counter = itertools.count()
    target = path[0]

    def fn(child: Expr) -> Expr:
        return _replace(child, path[1:], new) if next(counter) == target else child

    return map_children(expr, fn)



