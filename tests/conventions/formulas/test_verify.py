"""Numerical verification and the layout machinery it rests on."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import formulas as fm
from conventions.formulas import ast as A

N = fm.Notation("n", fm.parse_declarations("X: [p, q], S: [q, p], x: col[q], r: row[q]"))


@pytest.mark.parametrize("layout", fm.LAYOUTS)
@pytest.mark.parametrize("den", ["X", "x", "r", "vec(X)", "vecr(X)"])
def test_core_tensor_inverts_derivative_value(layout: str, den: str) -> None:
    d = fm.parse(f"d(tr(S @ X))/d({den})", "text")
    assert isinstance(d, A.Derivative)
    sizes = {"p": 2, "q": 3}
    m = fm.derivative_map(d, N, layout, sizes)
    J = np.random.default_rng(0).standard_normal(m.core_sizes)
    M = fm.derivative_value(J, m)
    assert M.shape == m.shape
    np.testing.assert_array_equal(fm.core_tensor(M, m), J)


def test_derivative_value_of_a_gradient_by_a_transpose_is_the_transpose() -> None:
    # d s/d X^T (mixed) is the transpose of d s/d X (mixed): written out by hand.
    notation = fm.Notation(
        "t", {"Y": fm.matrix("Y", "q", "p", means=A.Transpose(A.Sym("X")))},
        canonical={"X": fm.matrix("X", "p", "q"), "s": fm.scalar("s")},
    )
    notation = fm.Notation("t", {**notation.symbols, "s": fm.scalar("s", means=A.Sym("s"))},
                           canonical=notation.canonical)
    sizes = {"p": 2, "q": 3}
    G = np.arange(6.0).reshape(1, 6)  # ∂s/∂X[i, j] = G.reshape(2, 3)[i, j]
    by_y = fm.derivative_map(fm.parse("d(s)/d(Y)", "text"), notation, "mixed", sizes)  # type: ignore[arg-type]
    np.testing.assert_array_equal(fm.derivative_value(G, by_y), G.reshape(2, 3).T)


def test_verification_reports_sizes_and_fails_on_disagreement() -> None:
    f = N.parse("d(tr(S @ X))/d(X) = S", layout="numerator")
    good = f.convert(N, layout="denominator")
    result = fm.verify(f, good, trials=2)
    assert result and result.trials == 2 and set(result.sizes) == {"p", "q"}
    bad = fm.Formula(A.Equation(good.lhs, A.Scale(A.Num(2), good.rhs)), N,  # type: ignore[arg-type]
                     "denominator")
    result = fm.verify(f, bad)
    assert not result and result.error == pytest.approx(1.0)


def test_a_differential_statement_verifies_against_its_conversion_and_gradient() -> None:
    from conventions.formulas.differentials import gradient

    notation = fm.Notation("d", fm.parse_declarations("J: scalar, X: [p, q], S: [q, p]"))
    rows = fm.Notation(
        "drows", {"J": fm.scalar("J", means=A.Sym("J")),
                  "Y": fm.matrix("Y", "q", "p", means=A.Transpose(A.Sym("X"))),
                  "S": fm.matrix("S", "q", "p", means=A.Sym("S"))},
        canonical=notation.symbols,
    )
    dJ = notation.parse("d(J) = tr(S @ d(X))")
    there = dJ.convert(rows)
    assert there.text() == "d(J) = tr(S @ d(Y.T))"  # X = Yᵀ, transposes pushed in
    assert fm.verify(dJ, there).passed
    g = gradient(dJ, "X")
    assert fm.verify(dJ, g).passed and fm.verify(dJ, g.convert(rows)).passed
    wrong = fm.Formula(A.Equation(g.lhs, A.Neg(g.rhs)), notation, g.layout)  # type: ignore[arg-type]
    assert not fm.verify(dJ, wrong).passed
