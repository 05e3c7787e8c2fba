"""Notations and formulas in them."""

from __future__ import annotations

import pytest

from conventions import formulas as fm
from conventions.formulas import ast as A

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

CANON = {"W": fm.matrix("W", "m", "n"), "x": fm.col("x", "n")}


def test_meanings_are_shape_checked() -> None:
    with pytest.raises(fm.FormulaError, match="has shape"):
        fm.Notation("bad", {"V": fm.matrix("V", "m", "n", means=A.Transpose(A.Sym("W")))},
                    canonical=CANON)
    with pytest.raises(fm.FormulaError, match="no canonical symbols"):
        fm.Notation("bad", {"V": fm.matrix("V", "n", "m", means=A.Transpose(A.Sym("W")))})
    with pytest.raises(fm.FormulaError, match="not a canonical symbol"):
        fm.Notation("bad", {"q": fm.col("q", "n")}, canonical=CANON)


def test_formula_parts_and_rendering() -> None:
    rows = fm.Notation(
        "rows",
        {"V": fm.matrix("V", "n", "m", means=A.Transpose(A.Sym("W"))),
         "r": fm.row("r", "n", means=A.Transpose(A.Sym("x")))},
        canonical=CANON,
    )
    f = rows.parse("r @ V")
    assert f.lhs is None and f.derivative is None and f.rhs == f.expr
    assert rows.to_canonical(f.expr) == fm.parse("x.T @ W.T", "text")
    g = f.convert(fm.Notation("canon", CANON))
    assert g.text() == "x.T @ W.T" and str(g) == g.text() and g.latex() == "x^\\top W^\\top"
    with pytest.raises(fm.FormulaError, match="no symbol"):
        rows.to_canonical(A.Sym("zz"))
