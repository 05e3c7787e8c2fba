"""Conversions: layout pairs from the references, vec forms, orientation, round trips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conventions import formulas as fm
from conventions.formulas import ast as A
from conventions.formulas._verify import random_sizes, random_values

from ._strategies import INDICES, SYMBOLS, assignments, evaluation_inputs, expr_of

ADHOC = fm.Notation("adhoc", fm.parse_declarations(
    "x: col[n], a: col[n], A: [m, n], B: [n, n], X: [p, q], b: col[q], c: col[p], S: [q, p]"
))

# REFERENCES.md: numerator | denominator for a^T x, A x, x^T B x, c^T X b, tr(S X).
PAIRS = [
    ("d(a.T @ x)/d(x)", "a.T", "a"),
    ("d(A @ x)/d(x)", "A", "A.T"),
    ("d(x.T @ B @ x)/d(x)", "x.T @ (B + B.T)", "(B + B.T) @ x"),
    ("d(c.T @ X @ b)/d(X)", "b @ c.T", "c @ b.T"),
    ("d(tr(S @ X))/d(X)", "S", "S.T"),
]


def _values(notation: fm.Notation, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    rng = np.random.default_rng(seed)
    sizes = random_sizes(notation.symbols, rng)
    return random_values(notation.symbols, sizes, rng), sizes


def _value(f: fm.Formula, values: dict[Any, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
    typed = f.typed()
    rhs = typed.args[1] if isinstance(f.expr, A.Equation) else typed
    return np.asarray(fm.evaluate(rhs, values, sizes=sizes, indices=INDICES))


@pytest.mark.parametrize(("lhs", "numerator", "denominator"), PAIRS)
def test_reference_layout_pairs(lhs: str, numerator: str, denominator: str) -> None:
    values, sizes = _values(ADHOC)
    num = ADHOC.parse(f"{lhs} = {numerator}", layout="numerator")
    den = num.convert(ADHOC, layout="denominator")
    # The converted value equals the references' denominator form, computed apart.
    expected = ADHOC.parse(f"{lhs} = {denominator}", layout="denominator")
    np.testing.assert_allclose(_value(den, values, sizes), _value(expected, values, sizes))
    assert fm.verify(num, den).passed
    back = den.convert(ADHOC, layout="numerator")
    np.testing.assert_allclose(_value(back, values, sizes), _value(num, values, sizes))


def test_a_wrong_conversion_is_caught() -> None:
    num = ADHOC.parse("d(A @ x)/d(x) = A", layout="numerator")
    wrong = fm.Formula(A.Equation(num.lhs, A.Sym("A")), ADHOC, "denominator")  # type: ignore[arg-type]
    with pytest.raises(fm.FormulaError):
        wrong.typed()  # not even the right shape
    num = ADHOC.parse("d(tr(S @ X))/d(X) = S", layout="numerator")
    wrong = fm.Formula(A.Equation(num.lhs, A.Transpose(A.Transpose(A.Sym("S")))), ADHOC,
                       "mixed")  # type: ignore[arg-type]
    with pytest.raises(fm.FormulaError):
        wrong.typed()
    square = fm.Notation("sq", fm.parse_declarations("X: [n, n], S: [n, n]"))
    num = square.parse("d(tr(S @ X))/d(X) = S", layout="numerator")
    wrong = fm.Formula(num.expr, square, "mixed")  # same value, other layout: wrong
    result = fm.verify(num, wrong)
    assert not result.passed and "DISAGREE" in result.message


def test_vec_forms_through_commutation_matrices() -> None:
    f = ADHOC.parse("d(tr(S @ X))/d(vec(X)) = vec(S.T).T", layout="numerator")
    g = f.convert(ADHOC, wrt="vec(X.T)", layout="numerator")
    assert isinstance(g.lhs, A.Derivative) and g.lhs.den == fm.parse("vec(X.T)", "text")
    assert any(isinstance(n, A.Commutation) for n in fm.walk(g.rhs))
    assert fm.verify(f, g).passed
    h = f.convert(ADHOC, wrt="vecr(X)", layout="denominator")
    assert fm.verify(f, h).passed
    values, sizes = _values(ADHOC, 3)
    # vecr(X) = vec(X^T): the two denominators give the same value.
    np.testing.assert_allclose(_value(h, values, sizes).T, _value(g, values, sizes))
    # Independently: d tr(SX)/d vec(X^T) = vec(S)^T; vec(S) stacks the columns of S.
    np.testing.assert_allclose(_value(g, values, sizes), values["S"].T.reshape(1, -1))


def test_seed001_answer_in_numerator_layout_and_through_vec_of_the_transpose() -> None:
    seed001 = fm.Notation(
        "s1", {s.name: s for s in [fm.col("e_1", "n_i"), fm.col("h_1", "n_h"),
                                   fm.matrix("W_hx", "n_i", "n_h")]}, layout="denominator",
    )
    answer = seed001.parse(
        r"\frac{\partial h_1}{\partial \mathrm{vec}(W_{hx}^T)} = (e_1 \otimes I_{n_h})"
        r"\text{diag}( 1- h_1^2)"
    )
    numerator = answer.convert(seed001, layout="numerator")
    assert fm.verify(answer, numerator).passed
    # the asker's e_1^T ⊗ I factor appears transposed into place
    assert "kron(e_1.T, eye(n_h))" in numerator.text()
    by_w = answer.convert(seed001, wrt="vec(W_hx)")
    assert fm.verify(answer, by_w).passed
    assert "kron(eye(n_h), e_1)" in by_w.text()  # K (e ⊗ I) = (I ⊗ e)


ROWS = fm.Notation(
    "rows",
    {
        name: fm.Symbol(
            name, (s.shape[1], s.shape[0]),
            A.Neg(A.Sym(name)) if s.role == "scalar" else A.Transpose(A.Sym(name)),
        )
        for name, s in SYMBOLS.items()
    },
    canonical=SYMBOLS,
)
COLUMNS = fm.Notation("columns", SYMBOLS)
_M = fm.Size.of("m")
_N = fm.Size.of("n")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_formulas_convert_and_back_to_the_same_value(data: st.DataObject) -> None:
    shape = data.draw(st.sampled_from([(_M, _N), (_N, fm.Size(1)), (fm.Size(1), _M)]))
    # Expressions (with index sums, element indices, differentials) and assignments X := …
    expr = data.draw(st.one_of(expr_of(shape, 3), assignments(shape, 3)))
    f = fm.Formula(expr, COLUMNS)
    there = fm.convert(f, ROWS)
    back = fm.convert(there, COLUMNS)
    assert fm.verify(f, there).passed
    values, sizes = evaluation_inputs(SYMBOLS, data.draw(st.integers(0, 10)))
    np.testing.assert_allclose(_assigned(back, values, sizes), _assigned(f, values, sizes),
                               rtol=1e-9, atol=1e-12)


def _assigned(f: fm.Formula, values: dict[Any, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
    """The value of an expression; for ``X := v`` or ``Xᵀ := v`` the value given to ``X``
    (a conversion may write ``Xᵀ := v`` as ``X := vᵀ``: the same statement)."""
    value = _value(f, values, sizes)
    return value.T if isinstance(f.lhs, A.Transpose) else value


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_derivative_formulas_across_layouts_and_orientations(data: st.DataObject) -> None:
    den = data.draw(st.sampled_from(["W_hh", "h[t-1]", "e_1", "kernel"]))
    src_layout = data.draw(st.sampled_from(fm.LAYOUTS))
    dst_layout = data.draw(st.sampled_from(fm.LAYOUTS))
    lhs = A.Derivative(A.Sym("J[t]"), A.Sym(den))
    shape = fm.derivative_shape((fm.Size(1), fm.Size(1)), SYMBOLS[den].shape, src_layout)
    rhs = data.draw(expr_of(shape, 3))
    f = fm.Formula(A.Equation(lhs, rhs), COLUMNS, src_layout)
    there = fm.convert(f, ROWS, layout=dst_layout)
    assert fm.verify(f, there).passed
    back = fm.convert(there, COLUMNS, layout=src_layout)
    values, sizes = evaluation_inputs(SYMBOLS, 5)
    np.testing.assert_allclose(_value(back, values, sizes), _value(f, values, sizes),
                               rtol=1e-9, atol=1e-12)


def test_equation_with_a_transposed_symbol_on_the_left_is_transposed() -> None:
    f = fm.Formula(fm.parse("h[t-1] = kernel @ yhat[t]", "text"), COLUMNS)
    g = fm.convert(f, ROWS)
    assert g.lhs == A.Sym("h[t-1]")
    assert g.rhs == fm.parse("yhat[t] @ kernel", "text")
    assert fm.verify(f, g).passed


def test_missing_symbols_and_bad_layouts_are_refused() -> None:
    small = fm.Notation("small", {"x": fm.col("x", "n")})
    f = ADHOC.parse("A @ x")
    with pytest.raises(fm.FormulaError, match="no symbol"):
        f.convert(small)
    with pytest.raises(fm.FormulaError, match="layout"):
        f.convert(ADHOC, layout="sideways")


# -- ∂y/∂X ↔ ∂y/∂vec(X) -----------------------------------------------------------------------

VEC = fm.Notation("vecforms", fm.parse_declarations("X: [p, q], a: col[p], b: col[q]"))
VEC_GRADIENT = "d(a.T @ tanh(X @ b))/d(X) = (a * (1 - tanh(X @ b)**2)) @ b.T"


def _numeric_gradient(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Central differences of y = aᵀ tanh(X b) by each entry of X."""
    G = np.zeros_like(X)
    h = 1e-6
    for idx in np.ndindex(*X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (a.T @ np.tanh((X + E) @ b) - a.T @ np.tanh((X - E) @ b)).item() / (2 * h)
    return G


@pytest.mark.parametrize(
    ("wrt", "layout", "expected"),
    [
        ("vec(X)", "denominator", lambda G: G.reshape(-1, 1, order="F")),
        ("vec(X)", "numerator", lambda G: G.reshape(1, -1, order="F")),
        ("vec(X)", "mixed", lambda G: G.reshape(-1, 1, order="F")),
        ("vec(X.T)", "denominator", lambda G: G.T.reshape(-1, 1, order="F")),
        ("vecr(X)", "numerator", lambda G: G.reshape(1, -1, order="C")),
    ],
)
def test_matrix_derivative_to_vec_and_back(wrt: str, layout: str, expected: Any) -> None:
    f = VEC.parse(VEC_GRADIENT, layout="denominator")
    g = f.convert(VEC, wrt=wrt, layout=layout)
    assert fm.verify(f, g).passed
    rng = np.random.default_rng(1)
    X, a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 1)), rng.normal(size=(4, 1))
    typed = fm.check(g.expr.rhs, VEC.symbols, layout=layout)  # type: ignore[attr-defined]
    value = fm.evaluate(typed, {"X": X, "a": a, "b": b})
    assert np.allclose(value, expected(_numeric_gradient(X, a, b)), atol=1e-6)
    for back_layout in ("numerator", "denominator"):
        back = g.convert(VEC, wrt="X", layout=back_layout)
        assert fm.verify(g, back).passed and fm.verify(f, back).passed
        typed = fm.check(back.expr.rhs, VEC.symbols)  # type: ignore[attr-defined]
        G = fm.evaluate(typed, {"X": X, "a": a, "b": b})
        want = _numeric_gradient(X, a, b)
        assert np.allclose(G, want.T if back_layout == "numerator" else want, atol=1e-6)


def test_vec_derivative_back_to_matrix_needs_a_vec_value() -> None:
    f = VEC.parse("d(a.T @ X @ b)/d(vec(X)) = kron(b, a)", layout="denominator")
    with pytest.raises(fm.FormulaError, match="vec\\(M\\)"):
        f.convert(VEC, wrt="X")


# -- a per-step gradient keeps its step in any layout ---------------------------------------------

STEPS = fm.Notation("steps", fm.parse_declarations(
    "L: scalar, W: [m, n], b: col[m], v: col[n], x[t]: col[n], h[t]: col[m], g[t]: col[m], "
    "x[t-1]: col[n], g[t-1]: col[m]"
))

# Seed 003's ∇^{(t)}: the derivative by step t's copy of the parameter, in both syntaxes;
# (formula, its step).
PER_STEP = [
    (r"\nabla_{W}^{(t)} L = g^{(t)} {x^{(t)}}^\top", "t"),
    (r"\nabla_{b}^{(t)} L = g^{(t)}", "t"),
    (r"\nabla_{v}^{(t)} L = W^\top g^{(t)}", "t"),
    (r"\nabla_{W}^{(t)} L = \mathrm{diag}(1 - {h^{(t)}}^2) g^{(t)} {x^{(t)}}^\top", "t"),
    (r"\nabla_{W}^{(t-1)} L = g^{(t-1)} {x^{(t-1)}}^\top", "t-1"),
    (r"\nabla_{W}^{(2)} L = g^{(t)} {x^{(t)}}^\top", "2"),
    ("grad(L, W, t) = g[t] @ x[t].T", "t"),
    ("grad(L, vec(W), t) = vec(g[t] @ x[t].T)", "t"),
]


@pytest.mark.parametrize(("source", "step"), PER_STEP)
@pytest.mark.parametrize("layout", fm.LAYOUTS)
@pytest.mark.parametrize("syntax", ["text", "latex"])
def test_a_per_step_gradient_converted_with_a_layout_stays_per_step(
    source: str, step: str, layout: str, syntax: str
) -> None:
    f = STEPS.parse(source)
    assert isinstance(f.lhs, A.Derivative) and f.lhs.step == step
    g = f.convert(STEPS, layout=layout)
    shown = g.render(syntax)  # type: ignore[arg-type]
    lhs = shown.split(" = ")[0]
    # The step is printed: the ∂'s bar |_t, the derivative by step t's copy.
    assert lhs.endswith(f"|{step}" if syntax == "text" else rf"\bigg|_{{{step}}}"), shown
    back = STEPS.parse(shown, layout=layout, syntax=syntax)  # type: ignore[arg-type]
    assert back.expr == g.expr
    assert isinstance(back.lhs, A.Derivative) and back.lhs.kind == "partial"
    assert back.lhs.at == step and back.lhs.step is None
    assert fm.verify(f, back).passed


@pytest.mark.parametrize("layout", fm.LAYOUTS)
def test_a_per_step_matrix_gradient_in_each_layout_has_the_layouts_value(layout: str) -> None:
    # ∇^{(t)}_W L is shaped like W (m × n); as ∂L/∂W|_t in numerator layout it is its
    # transpose (n × m), in denominator and mixed layout W's shape.
    f = STEPS.parse(r"\nabla_{W}^{(t)} L = g^{(t)} {x^{(t)}}^\top")
    g = f.convert(STEPS, layout=layout)
    rng = np.random.default_rng(3)
    values = {"g[t]": rng.normal(size=(4, 1)), "x[t]": rng.normal(size=(3, 1))}
    G = values["g[t]"] @ values["x[t]"].T
    got = fm.evaluate(fm.check(g.expr.rhs, STEPS.symbols, layout=layout),  # type: ignore[attr-defined]
                      values)
    np.testing.assert_allclose(got, G.T if layout == "numerator" else G, rtol=1e-14)


def test_a_per_step_gradient_without_a_layout_stays_a_nabla() -> None:
    f = STEPS.parse(r"\nabla_{W}^{(t)} L = g^{(t)} {x^{(t)}}^\top")
    g = f.convert(STEPS)
    assert g.latex() == r"\nabla_{W}^{(t)} L = g^{(t)} {x^{(t)}}^\top"
    assert g.text() == "grad(L, W, t) = g[t] @ x[t].T"


def test_a_gradient_at_one_step_by_another_steps_copy_has_no_partial_spelling() -> None:
    f = fm.Formula(A.Equation(A.Derivative(A.Sym("L"), A.Sym("W"), "nabla", "t", "t-1"),
                              A.MatMul(A.Sym("g[t]"), A.Transpose(A.Sym("x[t]")))), STEPS)
    with pytest.raises(fm.FormulaError, match="no ∂ spelling"):
        f.convert(STEPS, layout="numerator")


def test_a_partial_built_with_a_step_renders_it_as_its_bar() -> None:
    # A ∂ carrying a ∇'s step (built by hand, not parsed) is the same derivative by step
    # t's copy: it is printed with the bar, never as the total.
    d = A.Derivative(A.Sym("L"), A.Sym("W"), "partial", None, "t")
    assert fm.render(d, "text") == "d(L)/d(W)|t"
    assert fm.render(d, "latex") == r"\frac{\partial L}{\partial W}\bigg|_{t}"
    both = A.Derivative(A.Sym("L"), A.Sym("W"), "partial", "t", "t")
    assert fm.render(both, "text") == "d(L)/d(W)|t"
    with pytest.raises(fm.FormulaError, match="no ∂ spelling"):
        fm.render(A.Derivative(A.Sym("L"), A.Sym("W"), "partial", "s", "t"), "text")
