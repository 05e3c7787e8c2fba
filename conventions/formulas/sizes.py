"""Symbolic sizes: monomials in size symbols such as ``n_h`` or ``n_i·n_h``, and 2-D shapes.

A :class:`Size` is an integer coefficient times a product of size symbols. Kronecker
products multiply sizes, so ``(e_1ᵀ ⊗ I_{n_h})`` has ``n_i·n_h`` columns. Two sizes are
equal when their coefficients and their multisets of symbols are; the order in which the
symbols were multiplied is kept only for printing.

Sizes whose symbols start with ``?`` are unknowns (the size of a bare ``I`` or ``1``);
:class:`Unifier` solves equations between sizes and substitutes the solutions.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping

from .errors import FormulaError

__all__ = ["ONE", "Shape", "Size", "Unifier", "format_shape", "parse_size"]

_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\|[A-Za-z][A-Za-z0-9_]*\|")


class Size:
    """``coeff × factor₁ × factor₂ × …`` with symbolic factors (immutable, hashable)."""

    __slots__ = ("coeff", "factors")

    coeff: int
    factors: tuple[str, ...]

    def __init__(self, coeff: int = 1, factors: tuple[str, ...] = ()) -> None:
        if coeff < 1:
            raise FormulaError(f"size: expected a positive integer coefficient, got {coeff}")
        object.__setattr__(self, "coeff", int(coeff))
        object.__setattr__(self, "factors", tuple(factors))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Size is immutable")

    @classmethod
    def of(cls, value: int | str | Size) -> Size:
        """A size from an int, a symbol name such as ``"n_h"``, or a Size."""
        if isinstance(value, Size):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            return parse_size(value)
        raise FormulaError(f"size: expected an int or a size symbol, got {value!r}")

    def _key(self) -> tuple[int, tuple[str, ...]]:
        return self.coeff, tuple(sorted(self.factors))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __mul__(self, other: Size) -> Size:
        return Size(self.coeff * other.coeff, self.factors + other.factors)

    @property
    def is_one(self) -> bool:
        return self.coeff == 1 and not self.factors

    @property
    def unknowns(self) -> tuple[str, ...]:
        return tuple(f for f in self.factors if f.startswith("?"))

    def value(self, sizes: Mapping[str, int]) -> int:
        """The integer this size takes when every symbol has a value in ``sizes``."""
        out = self.coeff
        for f in self.factors:
            if f not in sizes:
                raise FormulaError(
                    f"size {self}: no value for size symbol {f!r}; known: {sorted(sizes)}"
                )
            out *= sizes[f]
        return out

    def __str__(self) -> str:
        parts = [str(self.coeff)] if self.coeff != 1 or not self.factors else []
        parts += ["?" if f.startswith("?") else f for f in self.factors]
        return "·".join(parts)

    def __repr__(self) -> str:
        return f"Size({self})"


ONE = Size(1)

Shape = tuple[Size, Size]
"""``(rows, cols)``: every formula value is a matrix; a scalar is ``(1, 1)``."""


def format_shape(shape: Shape) -> str:
    """``(n_h × n_i·n_h)``."""
    return f"({shape[0]} × {shape[1]})"


def parse_size(text: str, aliases: Mapping[str, str] | None = None) -> Size:
    """A size from text: ``"3"``, ``"n_h"``, ``"n_i*n_h"``, ``"n_i·n_h"``, ``"|V|"``.

    ``aliases`` renames symbols (seed 000 writes ``D_h`` for ``n_h``).
    """
    aliases = aliases or {}
    cleaned = (
        text.replace("\\left", "").replace("\\right", "").replace("\\cdot", "*")
        .replace("\\times", "*").replace("·", "*").replace("{", "").replace("}", "")
    )
    cleaned = re.sub(r"\s+", "", cleaned)
    if not cleaned:
        raise FormulaError(f"size: expected a size such as 'n_h' or '3', got {text!r}")
    coeff, factors = 1, []
    for part in cleaned.split("*"):
        if part.isdigit():
            coeff *= int(part)
        elif _SYMBOL.fullmatch(part):
            name = aliases.get(part, part)
            if name.isdigit():
                coeff *= int(name)
            else:
                factors.append(name)
        else:
            raise FormulaError(
                f"size: expected a size symbol (letters, digits, '_') or an integer, got "
                f"{part!r} in {text!r}"
            )
    if coeff < 1:
        raise FormulaError(f"size: expected a positive size, got {text!r}")
    return Size(coeff, tuple(factors))


class Unifier:
    """Solves equations between sizes that hold unknowns (``?1``, ``?2`` …)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.bindings: dict[str, Size] = {}

    def fresh(self) -> Size:
        return Size(1, (f"?{next(self._counter)}",))

    def resolve(self, size: Size) -> Size:
        """``size`` with every bound unknown replaced (recursively)."""
        if not size.unknowns:
            return size
        coeff, factors = size.coeff, list[str]()
        for f in size.factors:
            if f in self.bindings:
                r = self.resolve(self.bindings[f])
                coeff *= r.coeff
                factors.extend(r.factors)
            else:
                factors.append(f)
        return Size(coeff, tuple(factors))

    def resolve_shape(self, shape: Shape) -> Shape:
        return self.resolve(shape[0]), self.resolve(shape[1])

    def unify(self, a: Size, b: Size) -> bool:
        """Make ``a == b`` by binding unknowns; ``False`` if that is impossible."""
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return True
        left, right = Counter(a.factors), Counter(b.factors)
        common = left & right
        left, right = left - common, right - common
        lu = [f for f in left.elements() if f.startswith("?")]
        ru = [f for f in right.elements() if f.startswith("?")]
        # Solve only the determined case: one unknown on one side, none on the other.
        if len(lu) == 1 and not ru:
            return self._bind(lu[0], left, a.coeff, right, b.coeff)
        if len(ru) == 1 and not lu:
            return self._bind(ru[0], right, b.coeff, left, a.coeff)
        single = len(lu) == 1 and len(ru) == 1
        if single and sum(left.values()) == 1 == sum(right.values()) and a.coeff == b.coeff:
            self.bindings[lu[0]] = Size(1, (ru[0],))
            return True
        return False

    def _bind(
        self, var: str, side: Counter[str], coeff: int, other: Counter[str], other_coeff: int
    ) -> bool:
        rest = side.copy()
        rest[var] -= 1
        if +rest:  # the unknown's side has other symbols left: divide them out
            if rest - other:
                return False
            other = other - rest
        if other_coeff % coeff:
            return False
        self.bindings[var] = Size(other_coeff // coeff, tuple(other.elements()))
        return True
