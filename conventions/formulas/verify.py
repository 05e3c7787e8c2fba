"""Numerical verification: a formula and its conversion agree on random values.

Random values are drawn for the *canonical* symbols; each notation's symbols get the
values their meanings give, so the two formulas see the same quantities. The values
are compared through the index tensor of :mod:`conventions.layouts` — not through the
symbolic rewriting under test: the source's layout value is read back into the
derivative of the canonical cores (:func:`core_tensor`) and laid out again for the
target (:func:`derivative_value`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layouts import from_layout, to_layout
from .ast import Derivative, Equation, Expr, Sym, symbols_of, walk
from .convert import peel
from .errors import FormulaError
from .evaluate import evaluate
from .notation import Formula, Notation
from .render import render
from .shapes import check, derivative_shape, kind_of
from .simplify import simplify
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


def _side_value(
    formula: Formula, expr: Expr, canonical_values: Mapping[str, np.ndarray],
    atoms: dict[tuple[str, str], np.ndarray], sizes: Mapping[str, int],
    rng: np.random.Generator,
) -> np.ndarray:
    notation = formula.notation
    names = [n for n in symbols_of(expr) if n in notation.symbols]
    values: dict[Any, Any] = _values_for(notation, names, canonical_values, sizes)
    for d in _derivatives(expr):
        m = derivative_map(d, notation, formula.layout, sizes)
        key = (m.num_core, m.den_core)
        if key not in atoms:
            atoms[key] = rng.uniform(-1.0, 1.0, m.core_sizes)
        values[d] = derivative_value(atoms[key], m)
    typed = check(expr, notation.symbols, layout=formula.layout)
    return np.asarray(evaluate(typed, values, sizes=sizes))


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
    """
    canonical = source.notation.canonical_symbols
    rng = np.random.default_rng(seed)
    worst, used = 0.0, {}
    for _ in range(trials):
        used = dict(sizes) if sizes is not None else random_sizes(canonical, rng)
        canonical_values = random_values(canonical, used, rng)
        atoms: dict[tuple[str, str], np.ndarray] = {}
        got = _side_value(target, target.rhs, canonical_values, atoms, used, rng)
        src = _side_value(source, source.rhs, canonical_values, atoms, used, rng)
        want = _expected(source, target, src, used)
        if got.shape != want.shape:
            return Verification(
                False, float("inf"), used, trials,
                f"shape {got.shape} of the conversion against {want.shape} expected",
            )
        scale = max(float(np.linalg.norm(want)), 1e-300)
        worst = max(worst, float(np.linalg.norm(got - want)) / scale)
    passed = worst <= rtol
    message = (
        f"{'agree' if passed else 'DISAGREE'}: worst normwise relative error {worst:.1e} "
        f"over {trials} random draw(s) (tolerance {rtol:.0e}); last sizes "
        + ", ".join(f"{k}={v}" for k, v in used.items())
    )
    return Verification(passed, worst, used, trials, message)


def _expected(
    source: Formula, target: Formula, value: np.ndarray, sizes: Mapping[str, int]
) -> np.ndarray:
    src_lhs, dst_lhs = source.lhs, target.lhs
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
