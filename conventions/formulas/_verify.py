"""Numerical verification: a formula and its conversion agree on random values.

Random values are drawn for the *canonical* symbols; each notation's symbols get the
values their meanings give, so the two formulas see the same quantities. The values
are compared through the index tensor of :mod:`conventions.layouts` — not through the
symbolic rewriting under test: the source's layout value is read back into the
derivative of the canonical cores (:func:`core_tensor`) and laid out again for the
target (:func:`derivative_value`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layouts import from_layout, to_layout
from ._convert import peel
from ._evaluate import evaluate
from ._render import render
from ._simplify import simplify
from .ast import Derivative, Differential, Equation, Expr, Indexed, IndexSum, Sym, symbols_of, walk
from .errors import FormulaError
from .notation import Formula, Notation
from .shapes import Typed, check, derivative_shape, kind_of, time_var_in
from .sizes import Shape
from .symbols import Symbol

__all__ = [
    "DerivativeMap",
    "Verification",
    "core_tensor",
    "derivative_map",
    "derivative_value",
    "random_sizes",
    "verify",
]

_SIZE_VALUES = (3, 4, 5, 2, 6, 7, 8, 9)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: ``passed``, the worst normwise relative error over
    the trials, the sizes used, and a one-line ``message``."""

    passed: bool
    error: float
    sizes: Mapping[str, int] = field(default_factory=dict)
    trials: int = 0
    message: str = ""

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class DerivativeMap:
    """How a derivative's layout value sits over the canonical cores' index tensor.

    ``num_index``/``den_index`` give, for every entry of the numerator/denominator (in
    C order), the flat index of its canonical core entry, ``*_sign`` its sign.
    """

    num_core: str
    den_core: str
    num_index: np.ndarray
    num_sign: np.ndarray
    den_index: np.ndarray
    den_sign: np.ndarray
    out_shape: tuple[int, ...]
    in_shape: tuple[int, ...]
    layout: str
    shape: tuple[int, int]
    core_sizes: tuple[int, int]


def random_sizes(symbols: Mapping[str, Symbol], rng: np.random.Generator) -> dict[str, int]:
    """Distinct small sizes (2 to 9) for the size symbols of ``symbols``."""
    names = sorted({f for s in symbols.values() for size in s.shape for f in size.factors})
    values = list(rng.permutation(_SIZE_VALUES))
    while len(values) < len(names):
        values.append(int(rng.integers(2, 10)))
    return {n: int(v) for n, v in zip(names, values, strict=False)}


def random_values(
    symbols: Mapping[str, Symbol], sizes: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Values in ``[0.5, 1.5)`` (positive, so ``log`` is defined) for every symbol."""
    return {
        name: rng.uniform(0.5, 1.5, (s.shape[0].value(sizes), s.shape[1].value(sizes)))
        for name, s in symbols.items()
    }


def _index_map(
    expr_c: Expr, canonical: Mapping[str, Symbol], sizes: Mapping[str, int]
) -> tuple[str, np.ndarray, np.ndarray, tuple[int, int]]:
    """Core name, flat core index and sign of every entry of ``expr_c`` (C order)."""
    p = peel(expr_c, canonical)
    rows, cols = (s.value(sizes) for s in p.core_shape)
    if p.opaque is not None:  # a compound quantity is its own core, entry by entry
        n = rows * cols
        return p.core, np.arange(n), np.ones(n), (rows, cols)
    # Entry k of the core holds k + 1: the value of expr_c says where each entry came from.
    probe = np.arange(1, rows * cols + 1, dtype=float).reshape(rows, cols)
    value = evaluate(check(expr_c, canonical), {p.core: probe}, sizes=sizes)
    flat = np.asarray(value).reshape(-1)
    return p.core, (np.abs(flat) - 1).astype(int), np.sign(flat), (rows, cols)


def _layout_dims(shape: tuple[int, int]) -> tuple[int, ...]:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return ()
    if rows == 1 or cols == 1:
        return (rows * cols,)
    return shape


def derivative_map(
    d: Derivative,
    notation: Notation,
    layout: str,
    sizes: Mapping[str, int],
) -> DerivativeMap:
    """The :class:`DerivativeMap` of ``d`` written in ``notation`` and ``layout``."""
    canonical = notation.canonical_symbols
    num_c = simplify(notation.to_canonical(d.num), canonical)
    den_c = simplify(notation.to_canonical(d.den), canonical)
    ncore, nidx, nsign, ncore_shape = _index_map(num_c, canonical, sizes)
    dcore, didx, dsign, dcore_shape = _index_map(den_c, canonical, sizes)
    num_shape = check(d.num, notation.symbols).shape
    den_shape = check(d.den, notation.symbols).shape
    lay = "mixed" if d.kind == "nabla" else layout
    shape = derivative_shape(num_shape, den_shape, lay, d.kind)
    ints = lambda s: (s[0].value(sizes), s[1].value(sizes))  # noqa: E731
    return DerivativeMap(
        ncore, dcore, nidx, nsign, didx, dsign,
        _layout_dims(ints(num_shape)), _layout_dims(ints(den_shape)), lay, ints(shape),
        (ncore_shape[0] * ncore_shape[1], dcore_shape[0] * dcore_shape[1]),
    )


def derivative_value(J_core: np.ndarray, m: DerivativeMap) -> np.ndarray:
    """The layout value (2-D) of the derivative whose core index tensor, flattened to
    ``(core_num_size, core_den_size)``, is ``J_core``."""
    Jq = m.num_sign[:, None] * m.den_sign[None, :] * J_core[np.ix_(m.num_index, m.den_index)]
    J = Jq.reshape(m.out_shape + m.in_shape)
    M = to_layout(J, m.layout, out_shape=m.out_shape, in_shape=m.in_shape)
    return np.asarray(M).reshape(m.shape)


def core_tensor(M: Any, m: DerivativeMap) -> np.ndarray:
    """Inverse of :func:`derivative_value`: the flattened core index tensor of ``M``."""
    from ..layouts import layout_shape

    M = np.asarray(M).reshape(
        layout_shape(m.layout, out_shape=m.out_shape, in_shape=m.in_shape)
    )
    J = np.asarray(from_layout(M, m.layout, out_shape=m.out_shape, in_shape=m.in_shape))
    Jq = J.reshape(len(m.num_index), len(m.den_index))
    out = np.zeros(m.core_sizes)
    out[np.ix_(m.num_index, m.den_index)] = m.num_sign[:, None] * m.den_sign[None, :] * Jq
    return out


def _values_for(
    notation: Notation, names: list[str], canonical_values: Mapping[str, np.ndarray],
    sizes: Mapping[str, int],
) -> dict[str, np.ndarray]:
    canonical = notation.canonical_symbols
    out = {}
    for name in names:
        meaning = notation.meaning(name)
        typed = check(meaning, canonical)
        out[name] = np.asarray(evaluate(typed, canonical_values, sizes=sizes))
    return out


def _derivatives(expr: Expr) -> list[Derivative]:
    return [e for e in walk(expr) if isinstance(e, Derivative)]


@dataclass
class _Draw:
    """The random quantities of one trial, shared by the two formulas."""

    sizes: Mapping[str, int]
    values: dict[str, np.ndarray]
    directions: dict[str, np.ndarray]
    rng: np.random.Generator
    atoms: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)
    steps: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    steps_count: int = 3

    def at_step(self, canonical: Mapping[str, Symbol], k: int) -> dict[str, np.ndarray]:
        """Canonical values at step ``k`` of a time sum: the time-indexed ones redrawn."""
        if k not in self.steps:
            fresh = random_values(
                {n: s for n, s in canonical.items() if "[" in n}, self.sizes, self.rng
            )
            self.steps[k] = {**self.values, **fresh}
        return self.steps[k]


def _time_vars(expr: Expr) -> list[str]:
    return [e.var for e in walk(expr) if isinstance(e, IndexSum) and e.var is not None]


def _free_indices(typed: Typed, sizes: Mapping[str, int]) -> dict[str, int]:
    """The element indices not summed over, with the size each ranges over."""
    bound = {e.var for e in walk(typed.expr) if isinstance(e, IndexSum)}
    out: dict[str, int] = {}

    def visit(t: Typed) -> None:
        if isinstance(t.expr, Indexed):
            rows, cols = (s.value(sizes) for s in t.args[0].shape)
            ix = t.expr.indices
            extents = [rows, cols] if len(ix) == 2 else (
                [rows * cols] if 1 in (rows, cols) else [rows])
            for index, n in zip(ix, extents, strict=True):
                if not index.isdigit() and index not in bound:
                    out[index] = n
        for a in t.args:
            visit(a)

    visit(typed)
    return out


def _side_value(
    formula: Formula, expr: Expr, draw: _Draw, indices: Mapping[str, int],
) -> np.ndarray:
    notation = formula.notation
    canonical = notation.canonical_symbols
    sizes = draw.sizes
    names = [n for n in symbols_of(expr) if n in notation.symbols]
    values: dict[Any, Any] = _values_for(notation, names, draw.values, sizes)
    times = _time_vars(expr)
    T = draw.steps_count
    for name in names:
        if any(time_var_in(Sym(name), v) for v in times):
            values[name] = np.stack([
                _values_for(notation, [name], draw.at_step(canonical, k), sizes)[name]
                for k in range(1, T + 1)
            ])
    directions: dict[Any, Any] = {Differential(Sym(n)): v for n, v in draw.directions.items()}
    for e in walk(expr):
        if isinstance(e, Differential):
            for name in symbols_of(e.operand):
                if name not in notation.symbols:
                    continue
                meaning = Differential(notation.meaning(name))
                typed_d = check(meaning, canonical)
                values[Differential(Sym(name))] = np.asarray(
                    evaluate(typed_d, {**draw.values, **directions}, sizes=sizes)
                )
    for d in _derivatives(expr):
        m = derivative_map(d, notation, formula.layout, sizes)
        stepped = any(time_var_in(d, v) for v in times)
        key: tuple[Any, ...] = (m.num_core, m.den_core)
        if stepped:
            stack = []
            for k in range(1, T + 1):
                if (*key, k) not in draw.atoms:
                    draw.atoms[(*key, k)] = draw.rng.uniform(-1.0, 1.0, m.core_sizes)
                stack.append(derivative_value(draw.atoms[(*key, k)], m))
            values[d] = np.stack(stack)
            continue
        if key not in draw.atoms:
            draw.atoms[key] = draw.rng.uniform(-1.0, 1.0, m.core_sizes)
        values[d] = derivative_value(draw.atoms[key], m)
    typed = check(expr, notation.symbols, layout=formula.layout)
    return np.asarray(evaluate(typed, values, sizes=sizes, indices=indices))


def _index_draws(
    source: Formula, target: Formula, sizes: Mapping[str, int], rng: np.random.Generator,
    limit: int = 4,
) -> list[dict[str, int]]:
    """Values of the free element indices to evaluate at (all, or ``limit`` at random)."""
    free = _free_indices(source.typed(), sizes)
    if not free:
        return [{}]
    names = sorted(free)
    combos = list(itertools.product(*(range(1, free[n] + 1) for n in names)))
    if len(combos) > limit:
        picks = rng.choice(len(combos), size=limit, replace=False)
        combos = [combos[int(i)] for i in picks]
    return [dict(zip(names, c, strict=True)) for c in combos]


def verify(
    source: Formula,
    target: Formula,
    *,
    seed: int = 0,
    trials: int = 3,
    sizes: Mapping[str, int] | None = None,
    rtol: float = 1e-9,
) -> Verification:
    """Check numerically that ``target`` says what ``source`` says.

    Both formulas are evaluated on random values that respect the shapes and the
    notations' meanings; derivatives on the right are given random (consistent) values.
    With a derivative on the left, the source's value is read as the derivative of the
    canonical cores and laid out for the target's derivative; with a symbol on the left,
    the source's value is mapped to the target's symbol the same way; a plain expression
    must keep its value.

    Differentials ``dX`` get random directions (the same canonical direction on both
    sides); a differential statement ``dJ = …`` against a derivative ``∂J/∂W = G`` (see
    :func:`~conventions.formulas.differentials.gradient`) checks the identification:
    with only ``dW`` nonzero, ``dJ`` equals ``⟨∂J/∂W, dW⟩``. Time sums get stacked
    per-step values (3 steps unless the upper limit's size is drawn); free element
    indices are evaluated at every value (at most 4 drawn at random).
    """
    canonical = source.notation.canonical_symbols
    rng = np.random.default_rng(seed)
    worst, used = 0.0, {}
    extra = sorted({
        f for f_ in (source, target) for e in walk(f_.expr)
        if isinstance(e, IndexSum) and e.upper is not None
        for f in _size_factors(e.upper)
    })
    identify = (isinstance(source.lhs, Differential) and isinstance(target.lhs, Derivative))
    for _ in range(trials):
        used = dict(sizes) if sizes is not None else random_sizes(canonical, rng)
        for name in extra:
            used.setdefault(name, int(rng.integers(2, 5)))
        canonical_values = random_values(canonical, used, rng)
        directions = {n: rng.uniform(-1.0, 1.0, v.shape) for n, v in canonical_values.items()}
        if identify:
            assert isinstance(target.lhs, Derivative)
            mt = derivative_map(target.lhs, target.notation, target.layout, used)
            directions = {n: v if n == mt.den_core else 0.0 * v for n, v in directions.items()}
        T = next((used[n] for n in extra), 3)
        draw = _Draw(used, canonical_values, directions, rng, steps_count=T)
        got_parts, want_parts = [], []
        for indices in _index_draws(source, target, used, rng):
            got = _side_value(target, target.rhs, draw, indices)
            src = _side_value(source, source.rhs, draw, indices)
            if identify:
                got, want = _identified(source, target, got, src, directions, used)
            else:
                want = _expected(source, target, src, used)
            if got.shape != want.shape:
                return Verification(
                    False, float("inf"), used, trials,
                    f"shape {got.shape} of the conversion against {want.shape} expected",
                )
            got_parts.append(got.reshape(-1))
            want_parts.append(want.reshape(-1))
        got_all, want_all = np.concatenate(got_parts), np.concatenate(want_parts)
        scale = max(float(np.linalg.norm(want_all)), 1e-300)
        worst = max(worst, float(np.linalg.norm(got_all - want_all)) / scale)
    passed = worst <= rtol
    message = (
        f"{'agree' if passed else 'DISAGREE'}: worst normwise relative error {worst:.1e} "
        f"over {trials} random draw(s) (tolerance {rtol:.0e}); last sizes "
        + ", ".join(f"{k}={v}" for k, v in used.items())
    )
    return Verification(passed, worst, used, trials, message)


def _size_factors(text: str) -> tuple[str, ...]:
    from .sizes import parse_size

    try:
        return parse_size(text).factors
    except FormulaError:
        return ()


def _identified(
    source: Formula, target: Formula, got: np.ndarray, src: np.ndarray,
    directions: Mapping[str, np.ndarray], sizes: Mapping[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """``⟨∂J/∂W, dW⟩`` from the target's value, and ``dJ`` from the source's, both as the
    differential of the canonical core of ``J``."""
    assert isinstance(target.lhs, Derivative) and isinstance(source.lhs, Differential)
    mt = derivative_map(target.lhs, target.notation, target.layout, sizes)
    canonical = source.notation.canonical_symbols
    J = simplify(source.notation.to_canonical(source.lhs.operand), canonical)
    p = peel(J, canonical)
    if p.core != mt.num_core:
        raise FormulaError(
            f"the differential d{render(source.lhs.operand, 'text')} and the derivative "
            f"{render(target.lhs, 'text')} are of different quantities"
        )
    core = core_tensor(got, mt).reshape(-1)
    dW = np.asarray(directions[mt.den_core]).reshape(-1)
    return np.array([[float(core @ dW)]]), p.sign * np.asarray(src).reshape(1, 1)


def _expected(
    source: Formula, target: Formula, value: np.ndarray, sizes: Mapping[str, int]
) -> np.ndarray:
    src_lhs, dst_lhs = source.lhs, target.lhs
    if isinstance(src_lhs, Differential) and isinstance(dst_lhs, Differential):
        src_lhs, dst_lhs = src_lhs.operand, dst_lhs.operand  # dX is mapped as X is
    if isinstance(src_lhs, Derivative) and isinstance(dst_lhs, Derivative):
        ms = derivative_map(src_lhs, source.notation, source.layout, sizes)
        mt = derivative_map(dst_lhs, target.notation, target.layout, sizes)
        if (ms.num_core, ms.den_core) != (mt.num_core, mt.den_core):
            raise FormulaError(
                f"the two left-hand sides differentiate different quantities: "
                f"{render(src_lhs, 'text')} against {render(dst_lhs, 'text')}"
            )
        return derivative_value(core_tensor(value, ms), mt)
    if src_lhs is not None and dst_lhs is not None:
        canonical = source.notation.canonical_symbols
        a = simplify(source.notation.to_canonical(src_lhs), canonical)
        b = simplify(target.notation.to_canonical(dst_lhs), canonical)
        core_a, idx_a, sign_a, core_shape = _index_map(a, canonical, sizes)
        core_b, idx_b, sign_b, _ = _index_map(b, canonical, sizes)
        if core_a != core_b:
            raise FormulaError(f"the left-hand sides name different quantities: {core_a}, "
                               f"{core_b}")
        core = np.zeros(core_shape[0] * core_shape[1])
        core[idx_a] = sign_a * value.reshape(-1)
        b_shape = check(dst_lhs, target.notation.symbols).shape
        return (sign_b * core[idx_b]).reshape(b_shape[0].value(sizes), b_shape[1].value(sizes))
    return value


_ = Equation, Sym, Shape, kind_of
