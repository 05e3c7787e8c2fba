"""Rendering: ``parse(render(f)) == f`` in both syntaxes, and readable output."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from conventions import formulas as fm
from conventions.formulas import ast as A

from ._strategies import DECLARED, SYMBOLS, blocks, chains, equations, formulas, syntax_formulas

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

_DECLARED = set(SYMBOLS)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(formulas())
def test_round_trip_expressions(f: A.Expr) -> None:
    for syntax in ("latex", "text"):
        rendered = fm.render(f, syntax)  # type: ignore[arg-type]
        assert fm.parse(rendered, syntax, declared=_DECLARED) == f, rendered  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(equations())
def test_round_trip_equations_with_derivatives(f: A.Equation) -> None:
    for syntax in ("latex", "text"):
        rendered = fm.render(f, syntax)  # type: ignore[arg-type]
        assert fm.parse(rendered, syntax, declared=_DECLARED) == f, rendered  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tree", "latex", "text"),
    [
        (A.Transpose(A.Sym("h[t-1]")), "{h^{(t-1)}}^\\top", "h[t-1].T"),
        (A.Sym("yhat[t]"), "\\hat{y}^{(t)}", "yhat[t]"),
        (A.Sym("W_hh"), "W_{hh}", "W_hh"),
        (A.Sym("alpha"), "\\alpha", "alpha"),
        (A.Sym("kernel"), "\\mathrm{kernel}", "kernel"),
        (A.Sym("weight_hh_l0"), "\\mathrm{weight}_{hh\\_l0}", "weight_hh_l0"),
        (A.MatMul(A.Kron(A.Sym("a"), A.Identity(fm.Size.of("n"))), A.Sym("B")),
         "\\left(a \\otimes I_{n}\\right) B", "kron(a, eye(n)) @ B"),
        (A.Hadamard(A.Num(2), A.Sym("x")), "2 \\circ x", "2 ∘ x"),
        (A.Scale(A.Num(2), A.Sym("x")), "2 x", "2 * x"),
        (A.Sub(A.Sym("a"), A.Neg(A.Sym("b"))), "a - \\left(-b\\right)", "a - -b"),
        (A.Power(A.Call("diag", A.Sym("v")), 2), "\\mathrm{diag}(v)^{2}", "diag(v)**2"),
        (A.Commutation(fm.Size.of("m"), fm.Size.of("n")), "K_{(m, n)}", "K(m, n)"),
        (A.Ones(fm.Size.of("n"), fm.Size(1)), "\\mathbf{1}_{(n, 1)}", "ones(n, 1)"),
    ],
)
def test_renderings(tree: A.Expr, latex: str, text: str) -> None:
    assert fm.latex(tree) == latex
    assert fm.text(tree) == text


def test_render_rejects_unwritable_numbers() -> None:
    with pytest.raises(fm.FormulaError):
        fm.render(A.Num(1e-30))
    with pytest.raises(fm.FormulaError):
        fm.render(A.Num(-2))
    with pytest.raises(fm.FormulaError):
        fm.render(A.Sym("x"), "html")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tree", "latex", "text"),
    [
        (A.IndexSum(A.Indexed(A.Sym("h[t-1]"), "j"), "j=1", "n"),
         "\\sum_{j=1}^{n} {h^{(t-1)}}_{j}", "sum[j=1:n](elem(h[t-1], j))"),
        (A.Indexed(A.Sym("W_hh"), "i,j"), "{W_{hh}}_{ij}", "elem(W_hh, i, j)"),
        (A.Indexed(A.Sym("W_hh"), "1,2"), "{W_{hh}}_{1,2}", "elem(W_hh, 1, 2)"),
        (A.MatMul(A.Differential(A.Sym("W_hh")), A.Sym("h[t-1]")),
         "d W_{hh} h^{(t-1)}", "d(W_hh) @ h[t-1]"),
        (A.Relation(":=", A.Sym("V"), A.Sub(A.Sym("V"), A.Sym("V"))),
         "V := V - V", "V := V - V"),
        (A.MatMul(A.IndexSum(A.Sym("yhat[t]"), "t", "T"), A.Sym("e_1")),
         "\\left(\\sum_{t}^{T} \\hat{y}^{(t)}\\right) e_1", "sum[t:T](yhat[t]) @ e_1"),
    ],
)
def test_renderings_of_the_new_constructs(tree: A.Expr, latex: str, text: str) -> None:
    assert fm.latex(tree) == latex
    assert fm.text(tree) == text
    for syntax, out in (("latex", latex), ("text", text)):
        assert fm.parse(out, syntax, declared=_DECLARED) == tree  # type: ignore[arg-type]


# -- fuzzing the round trip over every construct -------------------------------------------
# FORMULA_FUZZ_EXAMPLES cases in all (nox -s fuzz: 10⁵), shared out below; 1000 by default.
ROUND_TRIPS = int(os.environ.get("FORMULA_FUZZ_EXAMPLES", "1000"))
_FUZZ = {"deadline": None, "suppress_health_check": list(HealthCheck)}


def _round_trip(f: A.Expr, syntax: str, declared: frozenset[str] | set[str]) -> None:
    rendered = fm.render(f, syntax)  # type: ignore[arg-type]
    back = fm.parse(rendered, syntax, declared=declared)  # type: ignore[arg-type]
    assert back == f, f"{syntax}: {rendered}\n  read back as {back!r}"


@settings(max_examples=max(ROUND_TRIPS * 6 // 10, 1), **_FUZZ)  # type: ignore[arg-type]
@given(syntax_formulas())
def test_fuzz_round_trip_every_construct(f: A.Expr) -> None:
    """Names in every spelling, all functions, primes, steps, sums, elements, bars,
    differentials, ⊗ beside juxtaposition, relations."""
    for syntax in ("text", "latex"):
        _round_trip(f, syntax, DECLARED)


@settings(max_examples=max(ROUND_TRIPS * 15 // 100, 1), **_FUZZ)  # type: ignore[arg-type]
@given(formulas())
def test_fuzz_round_trip_typed_formulas(f: A.Expr) -> None:
    for syntax in ("text", "latex"):
        _round_trip(f, syntax, _DECLARED)


@settings(max_examples=max(ROUND_TRIPS * 5 // 100, 1), **_FUZZ)  # type: ignore[arg-type]
@given(equations())
def test_fuzz_round_trip_derivative_equations(f: A.Equation) -> None:
    for syntax in ("text", "latex"):
        _round_trip(f, syntax, _DECLARED)


@settings(max_examples=max(ROUND_TRIPS // 10, 1), **_FUZZ)  # type: ignore[arg-type]
@given(chains())
def test_fuzz_round_trip_chains(sides: list[A.Expr]) -> None:
    """``a = b = c`` reads as ``a = b`` and ``a = c``; so does an aligned chain whose
    lines after the first start with ``&=``."""
    want = [A.Equation(sides[0], side) for side in sides[1:]]
    for syntax in ("text", "latex"):
        line = " = ".join(fm.render(side, syntax) for side in sides)  # type: ignore[arg-type]
        assert fm.parse_statements(line, syntax, declared=DECLARED) == want, line  # type: ignore[arg-type]
    lines = [f"{fm.latex(sides[0])} &= {fm.latex(sides[1])}",
             *(f"&= {fm.latex(side)}" for side in sides[2:])]
    aligned = " \\\\\n".join(lines)
    block = f"\\begin{{aligned}}\n{aligned}\n\\end{{aligned}}"
    assert fm.parse_statements(block, "latex", declared=DECLARED) == want, block


@settings(max_examples=max(ROUND_TRIPS // 10, 1), **_FUZZ)  # type: ignore[arg-type]
@given(blocks())
def test_fuzz_round_trip_blocks(stmts: list[A.Expr]) -> None:
    """A derivation block, one statement a line (LaTeX lines end with ``\\\\``)."""
    text = "\n".join(fm.text(x) for x in stmts)
    assert fm.parse_block(text, "text", declared=DECLARED) == stmts, text
    latex = " \\\\\n".join(fm.latex(x) for x in stmts)
    assert fm.parse_block(latex, "latex", declared=DECLARED) == stmts, latex
