"""A small typed formula language for matrix calculus, as derivations write it.

Symbols are declared with a shape in size symbols (``n_h``, ``n_x``); formulas are
parsed from a Python-like text syntax or from LaTeX (never evaluated as code),
shape-checked, converted between notations (row ↔ column vectors through a symbol
mapping), layouts (numerator, denominator, mixed) and vec forms (``vec(W)`` ↔
``vec(Wᵀ)`` ↔ ``vecr(W)`` through commutation matrices), simplified, rendered back to
LaTeX and text, evaluated on NumPy, torch or JAX arrays, and verified numerically::

    from conventions import formulas as fm
    n = fm.Notation("mine", fm.parse_declarations("x: col[n], A: [m, n], a: col[n]"))
    f = n.parse("d(a.T @ x)/d(x) = a.T", layout="numerator")
    g = f.convert(n, layout="denominator")      # d(a.T @ x)/d(x) = a
    assert fm.verify(f, g).passed

Importing :mod:`conventions` does not import this package (nor lark); import it as
``from conventions import formulas``.
"""

from __future__ import annotations

from ._convert import convert, peel, relayout
from ._evaluate import evaluate
from ._parse import (
    Parsed,
    detect_syntax,
    parse,
    parse_block,
    parse_equations,
    parse_statements,
    parse_with_info,
)
from ._render import latex, render, text
from ._simplify import simplify
from ._verify import (
    Verification,
    core_tensor,
    derivative_map,
    derivative_value,
    random_sizes,
    verify,
)
from .ast import (
    ELEMENTWISE,
    FUNCTIONS,
    Add,
    Call,
    Cardinality,
    Commutation,
    Derivative,
    Differential,
    Equation,
    Expr,
    Frobenius,
    Hadamard,
    HadamardDiv,
    Identity,
    Indexed,
    IndexProduct,
    IndexSum,
    Kron,
    MatMul,
    Neg,
    Num,
    Ones,
    Ordinal,
    ParseOnly,
    Placeholder,
    Power,
    Relation,
    Scale,
    Sub,
    Sym,
    Transpose,
    Tuple,
    symbols_of,
    walk,
)
from .differentials import gradient
from .errors import FormulaError
from .names import latex_name
from .notation import Formula, Notation, Statement
from .shapes import LAYOUTS, Typed, check, check_annotations, derivative_shape
from .sizes import Size, parse_size
from .symbols import Symbol, col, matrix, parse_declarations, row, scalar
from .truth import ASSUMPTIONS, Truth, check_truth, parse_assumptions

__all__ = [
    "ASSUMPTIONS",
    "ELEMENTWISE",
    "FUNCTIONS",
    "LAYOUTS",
    "Add",
    "Call",
    "Cardinality",
    "Commutation",
    "Derivative",
    "Differential",
    "Equation",
    "Expr",
    "Formula",
    "FormulaError",
    "Frobenius",
    "Hadamard",
    "HadamardDiv",
    "Identity",
    "IndexProduct",
    "IndexSum",
    "Indexed",
    "Kron",
    "MatMul",
    "Neg",
    "Notation",
    "Num",
    "Ones",
    "Ordinal",
    "ParseOnly",
    "Parsed",
    "Placeholder",
    "Power",
    "Relation",
    "Scale",
    "Size",
    "Statement",
    "Sub",
    "Sym",
    "Symbol",
    "Transpose",
    "Truth",
    "Tuple",
    "Typed",
    "Verification",
    "check",
    "check_annotations",
    "check_truth",
    "col",
    "convert",
    "core_tensor",
    "derivative_map",
    "derivative_shape",
    "derivative_value",
    "detect_syntax",
    "evaluate",
    "gradient",
    "latex",
    "latex_name",
    "matrix",
    "parse",
    "parse_assumptions",
    "parse_block",
    "parse_declarations",
    "parse_equations",
    "parse_size",
    "parse_statements",
    "parse_with_info",
    "peel",
    "random_sizes",
    "relayout",
    "render",
    "row",
    "scalar",
    "simplify",
    "symbols_of",
    "text",
    "verify",
    "walk",
]
