"""A notation — the symbols a text writes with, and what they mean — and a formula in it.

A :class:`Notation` declares its symbols with shapes and, for conversions, writes each
in a shared set of *canonical* symbols (``means``); two notations over the same canonical
symbols convert into each other. A notation without canonical symbols is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._parse import Parsed, Syntax, parse_with_info
from ._render import render
from .ast import (
    Commutation,
    Derivative,
    Equation,
    Expr,
    Identity,
    IndexSum,
    Num,
    Ones,
    Relation,
    Sym,
    map_children,
)
from .errors import FormulaError
from .shapes import LAYOUTS, Typed, check, check_annotations
from .sizes import Size, parse_size
from .symbols import Symbol

__all__ = ["Formula", "Notation", "Statement"]


@dataclass(frozen=True)
class Notation:
    """Symbols as a text writes them.

    Attributes:
        name: e.g. ``"seed000"``.
        symbols: the declared symbols by name.
        layout: the layout the text writes ``∂`` derivatives in.
        canonical: the canonical symbols the ``means`` of ``symbols`` are written in;
            ``None`` when ``symbols`` are themselves canonical.
        sizes: aliases of size symbols in annotations (``{"D_h": "n_h"}``).
        description: how the text writes things, in words.
    """

    name: str
    symbols: Mapping[str, Symbol]
    layout: Literal["numerator", "denominator", "mixed"] = "mixed"
    canonical: Mapping[str, Symbol] | None = None
    sizes: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise FormulaError(
                f"notation {self.name!r}: layout must be one of {LAYOUTS}, got {self.layout!r}"
            )
        for name, symbol in self.symbols.items():
            if name != symbol.name:
                raise FormulaError(
                    f"notation {self.name!r}: key {name!r} holds symbol {symbol.name!r}"
                )
            if symbol.means is not None:
                if self.canonical is None:
                    raise FormulaError(
                        f"notation {self.name!r}: symbol {name!r} has a meaning but the "
                        "notation declares no canonical symbols"
                    )
                typed = check(symbol.means, self.canonical)
                if typed.shape != symbol.shape:
                    raise FormulaError(
                        f"notation {self.name!r}: {name!r} is declared {symbol.shape}, but "
                        f"its meaning {render(symbol.means, 'text')} has shape {typed.shape}"
                    )
            elif self.canonical is not None and name not in self.canonical:
                raise FormulaError(
                    f"notation {self.name!r}: symbol {name!r} has no meaning and is not a "
                    "canonical symbol"
                )

    @property
    def canonical_symbols(self) -> Mapping[str, Symbol]:
        return self.symbols if self.canonical is None else self.canonical

    def meaning(self, name: str) -> Expr:
        """Symbol ``name`` in canonical symbols."""
        means = self.symbols[name].means
        return Sym(name) if means is None else means

    def to_canonical(self, expr: Expr) -> Expr:
        """``expr`` with every symbol replaced by its meaning (derivatives included)."""
        if isinstance(expr, Sym):
            if expr.name not in self.symbols:
                raise FormulaError(f"notation {self.name!r} has no symbol {expr.name!r}")
            return self.meaning(expr.name)
        return map_children(expr, self.to_canonical)

    def parse(
        self, text: str, *, layout: str | None = None, syntax: Syntax | Literal["auto"] = "auto"
    ) -> Formula:
        """A formula in this notation, parsed and shape-checked (annotations included)."""
        return Formula.parse(text, self, layout=layout, syntax=syntax)

    def read_block(
        self, text: str, *, layout: str | None = None,
        syntax: Syntax | Literal["auto"] = "auto",
    ) -> list[Statement]:
        """Every statement of a derivation block (``aligned``, ``\\eqalign``, lines,
        chains ``a = b = c``), in order. A statement whose left side is a symbol this
        notation does not declare *defines* it (``\\delta^{(t)} = \\nabla_{a^{(t)}} L``):
        the statements after it are read with the definition substituted, so they say
        what they say in declared symbols."""
        from ._parse import parse_block

        exprs = parse_block(text, syntax, declared=self.symbols.keys())
        lone = exprs[0] if len(exprs) == 1 else None
        if lone is not None and not (isinstance(lone, (Equation, Relation))
                                     and isinstance(lone.lhs, Sym)
                                     and lone.lhs.name not in self.symbols):
            try:  # one statement: parsed again with its source, for carets under errors
                return [Statement(Formula.parse(text, self, layout=layout, syntax=syntax))]
            except FormulaError as exc:
                if "expected one statement" not in exc.reason:
                    raise
        out: list[Statement] = []
        definitions: dict[str, Expr] = {}
        scratch = Parsed(tree=Num(0), source=text, syntax="latex")
        for expr in exprs:
            if self.sizes:
                expr = _rename_sizes(expr, self.sizes, scratch)
            expr = _substitute(expr, definitions)
            lhs = expr.lhs if isinstance(expr, (Equation, Relation)) else None
            if isinstance(lhs, Sym) and lhs.name not in self.symbols:
                assert isinstance(expr, (Equation, Relation))
                rhs = expr.rhs
                check(rhs, self.symbols, layout=layout or self.layout)
                definitions[lhs.name] = rhs
                out.append(Statement(Formula(expr, self, layout or self.layout), lhs.name))
                continue
            formula = Formula(expr, self, layout or self.layout)
            formula.typed()
            out.append(Statement(formula, None))
        return out

    def with_symbols(self, **changes: Any) -> Notation:
        from dataclasses import replace

        return replace(self, **changes)


def _rename_size(size: Size, aliases: Mapping[str, str]) -> Size:
    out = Size(size.coeff)
    for factor in size.factors:
        out = out * parse_size(aliases.get(factor, factor))
    return out


def _rename_sizes(expr: Expr, aliases: Mapping[str, str], parsed: Parsed) -> Expr:
    new: Expr
    if isinstance(expr, Identity) and expr.size is not None:
        new = Identity(_rename_size(expr.size, aliases))
    elif isinstance(expr, Ones) and expr.rows is not None and expr.cols is not None:
        new = Ones(_rename_size(expr.rows, aliases), _rename_size(expr.cols, aliases))
    elif isinstance(expr, Commutation):
        new = Commutation(_rename_size(expr.m, aliases), _rename_size(expr.n, aliases))
    elif isinstance(expr, IndexSum) and expr.upper is not None and expr.upper in aliases:
        body = _rename_sizes(expr.body, aliases, parsed)
        new = IndexSum(body, expr.lower, aliases[expr.upper])
    else:
        new = map_children(expr, lambda e: _rename_sizes(e, aliases, parsed))
    if new == expr:
        return expr  # unchanged: keep the object, and with it its source span
    span = parsed.span(expr)
    if span is not None:
        parsed.note(new, *span)
    return new


def _substitute(expr: Expr, definitions: Mapping[str, Expr]) -> Expr:
    if isinstance(expr, Sym) and expr.name in definitions:
        return definitions[expr.name]
    return map_children(expr, lambda e: _substitute(e, definitions))


@dataclass(frozen=True)
class Statement:
    """One statement of a block: the formula, and the name it defines (or ``None``)."""

    formula: Formula
    defines: str | None = None


@dataclass(frozen=True)
class Formula:
    """An expression or equation in a notation, with the layout of its derivatives."""

    expr: Expr
    notation: Notation
    layout: str = "mixed"
    parsed: Parsed | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise FormulaError(f"layout: expected one of {LAYOUTS}, got {self.layout!r}")

    @classmethod
    def parse(
        cls,
        text: str,
        notation: Notation,
        *,
        layout: str | None = None,
        syntax: Syntax | Literal["auto"] = "auto",
    ) -> Formula:
        parsed = parse_with_info(text, syntax, declared=notation.symbols.keys())
        if notation.sizes:
            # Sizes written in the formula (I_{n_a}, 1_{(n_a,1)}) use the text's names too.
            parsed.tree = _rename_sizes(parsed.tree, notation.sizes, parsed)
        formula = cls(parsed.tree, notation, layout or notation.layout, parsed)
        typed = formula.typed()
        check_annotations(typed, parsed, notation.sizes)
        return formula

    def typed(self) -> Typed:
        """The shape-checked tree (raises :class:`FormulaError` on a mismatch)."""
        return check(self.expr, self.notation.symbols, layout=self.layout, parsed=self.parsed)

    @property
    def lhs(self) -> Expr | None:
        return self.expr.lhs if isinstance(self.expr, (Equation, Relation)) else None

    @property
    def rhs(self) -> Expr:
        return self.expr.rhs if isinstance(self.expr, (Equation, Relation)) else self.expr

    @property
    def derivative(self) -> Derivative | None:
        """The derivative on the left-hand side, if there is one."""
        return self.lhs if isinstance(self.lhs, Derivative) else None

    def latex(self) -> str:
        return render(self.expr, "latex")

    def text(self) -> str:
        return render(self.expr, "text")

    def render(self, syntax: Literal["latex", "text"] = "latex") -> str:
        return render(self.expr, syntax)

    def convert(
        self, target: Notation, *, layout: str | None = None, wrt: str | Expr | None = None
    ) -> Formula:
        """This formula in ``target`` (see :func:`~conventions.formulas._convert`)."""
        from ._convert import convert

        return convert(self, target, layout=layout, wrt=wrt)

    def __str__(self) -> str:
        return self.text()
