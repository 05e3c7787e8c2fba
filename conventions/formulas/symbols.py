"""Symbol declarations: a name, a shape in size symbols, and (optionally) what it means.

A symbol's role and orientation follow from its shape: ``(1, 1)`` is a scalar,
``(n, 1)`` a column vector, ``(1, n)`` a row vector, anything else a matrix.
``means`` writes the symbol in another set of symbols — the *canonical* ones of its
notation (seed 000's ``H`` means ``W_hh.T``) — which is what conversions go through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .ast import FUNCTIONS, Expr
from .errors import FormulaError
from .names import is_text_name
from .sizes import ONE, Shape, Size, parse_size

__all__ = ["RESERVED", "Symbol", "col", "matrix", "parse_declarations", "row", "scalar"]

RESERVED: frozenset[str] = frozenset(
    {*FUNCTIONS, "d", "kron", "frob", "eye", "ones", "grad", "sigma", "trace", "Tr", "ln",
     "Diag", "σ"}
)
"""Names that cannot be symbols: they spell functions or derivatives."""

Role = Literal["scalar", "vector", "matrix"]


@dataclass(frozen=True)
class Symbol:
    """A declared symbol.

    Attributes:
        name: the text name (``W_hh``, ``h[t-1]``, ``yhat[t]``; see :mod:`.names`).
        shape: ``(rows, cols)`` in size symbols.
        means: the symbol written in the notation's canonical symbols, or ``None`` when
            the symbol is itself canonical.
        description: what it is, in words.
    """

    name: str
    shape: Shape
    means: Expr | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not is_text_name(self.name):
            raise FormulaError(
                f"symbol name {self.name!r}: expected base[_sub][[time]] such as 'W_hh', "
                "'h[t-1]', 'yhat[t]'"
            )
        if self.name in RESERVED:
            raise FormulaError(
                f"symbol name {self.name!r} is reserved (a function or the differential d)"
            )
        rows, cols = self.shape
        object.__setattr__(self, "shape", (Size.of(rows), Size.of(cols)))

    @property
    def role(self) -> Role:
        rows, cols = self.shape
        if rows.is_one and cols.is_one:
            return "scalar"
        if rows.is_one or cols.is_one:
            return "vector"
        return "matrix"

    @property
    def orientation(self) -> Literal["row", "column"] | None:
        """``"row"`` or ``"column"`` for a vector, ``None`` otherwise."""
        if self.role != "vector":
            return None
        return "row" if self.shape[0].is_one else "column"


def scalar(name: str, *, means: Expr | None = None, description: str = "") -> Symbol:
    return Symbol(name, (ONE, ONE), means, description)


def col(name: str, n: int | str | Size, *, means: Expr | None = None,
        description: str = "") -> Symbol:
    """A column vector ``(n, 1)``."""
    return Symbol(name, (Size.of(n), ONE), means, description)


def row(name: str, n: int | str | Size, *, means: Expr | None = None,
        description: str = "") -> Symbol:
    """A row vector ``(1, n)``."""
    return Symbol(name, (ONE, Size.of(n)), means, description)


def matrix(name: str, rows: int | str | Size, cols: int | str | Size, *,
           means: Expr | None = None, description: str = "") -> Symbol:
    return Symbol(name, (Size.of(rows), Size.of(cols)), means, description)


_DECL = re.compile(
    r"\s*(?P<name>[^:,\[\]]+(?:\[[^\]]*\])?)\s*:\s*"
    r"(?P<kind>scalar|col|column|row|vector|matrix)?\s*(?:\[(?P<dims>[^\]]*)\])?\s*"
)


def parse_declarations(
    text: str, *, aliases: Mapping[str, str] | None = None
) -> dict[str, Symbol]:
    """Symbols from ``"x: col[n], W: [m, n], s: scalar, r: row[n]"``.

    ``col[n]`` (or ``vector[n]``) is ``(n, 1)``, ``row[n]`` is ``(1, n)``, ``[m, n]`` or
    ``matrix[m, n]`` a matrix; sizes are symbols, integers or products (``m*n``).
    """
    symbols: dict[str, Symbol] = {}
    pos = 0
    for piece in _split_top(text):
        match = _DECL.fullmatch(piece)
        if match is None or (match["kind"] is None and match["dims"] is None):
            raise FormulaError(
                "declaration: expected 'name: col[n]', 'name: row[n]', 'name: [m, n]' or "
                f"'name: scalar', got {piece.strip()!r}",
                source=text, position=pos + len(piece) - len(piece.lstrip()),
            )
        name, kind = match["name"].strip(), match["kind"] or "matrix"
        dims = [d for d in (match["dims"] or "").split(",") if d.strip()]
        try:
            sizes = [parse_size(d, aliases) for d in dims]
            if kind == "scalar" and not sizes:
                symbol = scalar(name)
            elif kind in ("col", "column", "vector") and len(sizes) == 1:
                symbol = col(name, sizes[0])
            elif kind == "row" and len(sizes) == 1:
                symbol = row(name, sizes[0])
            elif kind == "matrix" and len(sizes) == 2:
                symbol = matrix(name, sizes[0], sizes[1])
            else:
                raise FormulaError(
                    f"declaration of {name!r}: {kind} takes "
                    f"{ {'scalar': 0, 'matrix': 2}.get(kind, 1) } size(s), got {len(sizes)}"
                )
        except FormulaError as exc:
            raise FormulaError(exc.reason, source=text, position=pos) from None
        if name in symbols:
            raise FormulaError(f"declaration: {name!r} is declared twice", source=text,
                               position=pos)
        symbols[name] = symbol
        pos += len(piece) + 1
    if not symbols:
        raise FormulaError("declarations: expected at least one 'name: shape'", source=text,
                           position=0)
    return symbols


def _split_top(text: str) -> Iterable[str]:
    """Split at commas outside brackets."""
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch in ",;" and depth == 0:
            yield text[start:i]
            start = i + 1
    if text[start:].strip():
        yield text[start:]
