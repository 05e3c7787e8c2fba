"""Differentials: the forward-mode rule of every operation against central differences
written in plain NumPy, and :func:`gradient` on each supported form and its errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from conventions import formulas as fm
from conventions.formulas import ast as A
from conventions.formulas.differentials import gradient

DECL = fm.parse_declarations(
    "A: [m, n], B: [n, m], C: [m, m], x: col[n], y: col[m], r: row[m], s: scalar"
)
rng = np.random.default_rng(7)
X = {
    "A": rng.standard_normal((3, 4)), "B": rng.standard_normal((4, 3)),
    "C": rng.standard_normal((3, 3)) + 4 * np.eye(3), "x": rng.standard_normal((4, 1)),
    "y": rng.uniform(0.5, 1.5, (3, 1)), "r": rng.standard_normal((1, 3)),
    "s": np.array([[1.7]]),
}
DX = {name: rng.uniform(-1.0, 1.0, v.shape) for name, v in X.items()}

Fn = Callable[[dict[str, np.ndarray]], np.ndarray]


def _sig(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _vec(M: np.ndarray) -> np.ndarray:
    return M.reshape(-1, 1, order="F")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


# (formula, the same function in plain NumPy)
RULES: list[tuple[str, Fn]] = [
    ("A @ B", lambda v: v["A"] @ v["B"]),
    ("A @ x + 2 * y", lambda v: v["A"] @ v["x"] + 2 * v["y"]),
    ("A - B.T", lambda v: v["A"] - v["B"].T),
    ("-A.T", lambda v: -v["A"].T),
    ("s * A", lambda v: v["s"][0, 0] * v["A"]),
    ("y * y", lambda v: v["y"] * v["y"]),
    ("y / r.T", lambda v: v["y"] / v["r"].T),
    ("kron(A, x)", lambda v: np.kron(v["A"], v["x"])),
    ("kron(y.T, C)", lambda v: np.kron(v["y"].T, v["C"])),
    ("diag(y)", lambda v: np.diag(v["y"][:, 0])),
    ("diag(C)", lambda v: np.diag(v["C"]).reshape(-1, 1)),
    ("vec(A)", lambda v: _vec(v["A"])),
    ("vecr(A)", lambda v: v["A"].reshape(-1, 1)),
    ("tr(C @ C)", lambda v: np.trace(v["C"] @ v["C"]).reshape(1, 1)),
    ("sum(A)", lambda v: v["A"].sum().reshape(1, 1)),
    ("A : B.T", lambda v: np.sum(v["A"] * v["B"].T).reshape(1, 1)),
    ("tanh(A)", lambda v: np.tanh(v["A"])),
    ("sigmoid(A @ x)", lambda v: _sig(v["A"] @ v["x"])),
    ("exp(r)", lambda v: np.exp(v["r"])),
    ("log(y)", lambda v: np.log(v["y"])),
    ("softmax(A @ x)", lambda v: _softmax(v["A"] @ v["x"])),
    ("C**-1", lambda v: np.linalg.inv(v["C"])),
    ("C**-2 @ y", lambda v: np.linalg.inv(v["C"] @ v["C"]) @ v["y"]),
    ("C**3", lambda v: v["C"] @ v["C"] @ v["C"]),
    ("y**3", lambda v: v["y"] ** 3),
    ("K(m, n) @ vec(A)", lambda v: _vec(v["A"].T)),
    ("elem(A, 2, 3) * elem(y, 1)", lambda v: (v["A"][1, 2] * v["y"][0, 0]).reshape(1, 1)),
    ("elem(A, 3)", lambda v: v["A"][2:3, :]),
    ("sum[j=1:n](elem(A, 2, j) @ elem(x, j))", lambda v: v["A"][1:2, :] @ v["x"]),
    ("r @ tanh(A @ x) @ s", lambda v: v["r"] @ np.tanh(v["A"] @ v["x"]) * v["s"][0, 0]),
]


def _central(f: Fn, h: float = 1e-6) -> np.ndarray:
    plus = f({k: X[k] + h * DX[k] for k in X})
    minus = f({k: X[k] - h * DX[k] for k in X})
    return (plus - minus) / (2 * h)


def _forward(source: str, directions: dict[str, np.ndarray] | None = None) -> np.ndarray:
    typed = fm.check(fm.parse(f"d({source})", "text"), DECL)
    dirs = DX if directions is None else directions
    values = {**X, **{A.Differential(A.Sym(k)): v for k, v in dirs.items()}}
    return np.asarray(fm.evaluate(typed, values))


@pytest.mark.parametrize(("source", "numpy"), RULES, ids=[r[0] for r in RULES])
def test_forward_mode_rule_against_central_differences(source: str, numpy: Fn) -> None:
    got = _forward(source)
    want = _central(numpy)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_complex_step_agrees_to_rounding_on_a_composite() -> None:
    # Complex step has no subtractive cancellation: agreement to ~1e-12.
    def f(v: dict[str, np.ndarray]) -> np.ndarray:
        return np.sum(v["C"] * (v["A"] @ np.tanh(v["B"] @ v["C"]))).reshape(1, 1)

    h = 1e-30
    want = f({k: X[k] + 1j * h * DX[k] for k in X}).imag / h
    got = _forward("C : (A @ tanh(B @ C))")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_a_symbol_without_a_direction_is_held_fixed() -> None:
    got = _forward("A @ x", {"x": DX["x"]})  # no dA: A is a constant
    np.testing.assert_allclose(got, X["A"] @ DX["x"], rtol=1e-12)
    np.testing.assert_array_equal(_forward("A @ x", {}), np.zeros((3, 1)))


def test_differentials_are_linear_in_their_directions_inside_sums_and_products() -> None:
    typed = fm.check(fm.parse("A @ d(x) + d(A) @ x - 2 * d(y)", "text"), DECL)
    values = {**X, **{A.Differential(A.Sym(k)): v for k, v in DX.items()}}
    want = X["A"] @ DX["x"] + DX["A"] @ X["x"] - 2 * DX["y"]
    np.testing.assert_allclose(fm.evaluate(typed, values), want, rtol=1e-12)


def test_a_time_sum_of_differentials_steps_the_values() -> None:
    decl = fm.parse_declarations("h[t]: col[n], W: [n, n]")
    Hs = rng.standard_normal((4, 3, 1))
    W, dW = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    typed = fm.check(fm.parse("d(sum[t=1:T](tanh(W @ h[t])))", "text"), decl)
    got = fm.evaluate(typed, {"W": W, "h[t]": Hs, A.Differential(A.Sym("W")): dW},
                      sizes={"T": 4})
    want = sum((1 - np.tanh(W @ h) ** 2) * (dW @ h) for h in Hs)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_direction_errors_are_named() -> None:
    typed = fm.check(fm.parse("d(A @ x)", "text"), DECL)
    with pytest.raises(fm.FormulaError, match=r"direction dx: expected shape \(4, 1\)"):
        fm.evaluate(typed, {**X, A.Differential(A.Sym("x")): np.ones((2, 2))})
    with pytest.raises(fm.FormulaError, match="second order"):
        fm.check(fm.parse("d(d(A))", "text"), DECL)


# -- gradient(): ∂J/∂W from dJ = … -------------------------------------------------------------

G_DECL = fm.parse_declarations(
    "J: scalar, W: [m, n], P: [p, m], Q: [n, p], G: [m, n], a: col[m], b: col[n], "
    "Z: [n, n], c: scalar, x: col[n]"
)
NOT = fm.Notation("grads", G_DECL, layout="mixed")
V = {
    "W": rng.standard_normal((3, 4)), "P": rng.standard_normal((2, 3)),
    "Q": rng.standard_normal((4, 2)), "G": rng.standard_normal((3, 4)),
    "a": rng.standard_normal((3, 1)), "b": rng.standard_normal((4, 1)),
    "Z": rng.standard_normal((4, 4)), "c": np.array([[0.7]]), "x": rng.standard_normal((4, 1)),
}
P_, Q_ = V["P"], V["Q"]

GRADIENTS: list[tuple[str, Fn]] = [
    # tr(P dW Q) = tr(Q P dW) = <(Q P)ᵀ, dW>
    ("d(J) = tr(P @ d(W) @ Q)", lambda v: (v["Q"] @ v["P"]).T),
    # tr(Qᵀ dWᵀ Pᵀ) = tr(P dW Q)
    ("d(J) = tr(Q.T @ d(W).T @ P.T)", lambda v: (v["Q"] @ v["P"]).T),
    ("d(J) = tr(Q.T @ d(W.T) @ P.T)", lambda v: (v["Q"] @ v["P"]).T),
    ("d(J) = G : d(W)", lambda v: v["G"]),
    ("d(J) = d(W) : G", lambda v: v["G"]),
    ("d(J) = a.T @ d(W) @ b", lambda v: v["a"] @ v["b"].T),
    ("d(J) = 2 * tr(P @ d(W) @ Q) - (G : d(W))", lambda v: 2 * (v["Q"] @ v["P"]).T - v["G"]),
    ("d(J) = -(a.T @ d(W) @ b) + c @ a.T @ d(W) @ x",
     lambda v: -v["a"] @ v["b"].T + 0.7 * v["a"] @ v["x"].T),
    # a term in another differential is held at zero
    ("d(J) = (G : d(W)) + tr(Z @ d(Z))", lambda v: v["G"]),
]


def _value(f: fm.Formula) -> np.ndarray:
    rhs = f.typed().args[1]
    return np.asarray(fm.evaluate(rhs, V))


@pytest.mark.parametrize(("source", "numpy"), GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradient_identifies_each_form(source: str, numpy: Fn) -> None:
    dJ = NOT.parse(source)
    g = gradient(dJ, "W")
    assert g.lhs == A.Derivative(A.Sym("J"), A.Sym("W"))
    want = numpy(V)
    np.testing.assert_allclose(_value(g), want, rtol=1e-12, atol=1e-12)
    # the identification itself: dJ = <G, dW> for a direction in W alone
    dW = rng.standard_normal((3, 4))
    values = {**V, A.Differential(A.Sym("W")): dW}
    dJ_value = fm.evaluate(dJ.typed().args[1], values)[0, 0]
    assert np.isclose(dJ_value, np.sum(want * dW), rtol=1e-12)
    assert fm.verify(dJ, g).passed


def test_gradient_in_the_numerator_layout_is_the_transpose() -> None:
    dJ = NOT.parse("d(J) = tr(P @ d(W) @ Q)")
    g = gradient(dJ, "W", layout="numerator")
    assert g.layout == "numerator"
    np.testing.assert_allclose(_value(g), Q_ @ P_, rtol=1e-12)
    assert fm.verify(dJ, g).passed


def test_a_wrong_gradient_fails_verification() -> None:
    dJ = NOT.parse("d(J) = tr(P @ d(W) @ Q)")
    g = gradient(dJ, "W")
    wrong = fm.Formula(A.Equation(g.lhs, A.Scale(A.Num(2), g.rhs)), NOT, "mixed")  # type: ignore[arg-type]
    result = fm.verify(dJ, wrong)
    assert not result.passed and "DISAGREE" in result.message


@pytest.mark.parametrize(
    ("source", "wrt", "needle"),
    [
        ("J = G : W", "W", "expected a differential statement dJ = ..."),
        ("d(J) = G : d(W)", "U", "expected a declared symbol"),
        ("d(J) = G : d(W)", "W + W", "expected a declared symbol"),
        ("d(x) = Z @ d(x)", "x", "needs a scalar on the left"),
        ("d(J) = tr(d(W).T @ d(W))", "W", "two differentials is not linear"),
        ("d(J) = tr(d(Z))", "Z", r"tr\(dZ\) alone: write tr\(I dZ\)"),
        ("d(J) = tr(P @ tanh(d(W)) @ Q)", "W", "dW appears inside another expression"),
        # a symbolic scalar times a Frobenius product: only numeric factors are read
        ("d(J) = c * (G : d(W))", "W", "dW appears inside another expression"),
        ("d(J) = tr(Z) + (G : d(W))", "W", r"the term tr\(Z\) holds no differential"),
        ("d(J) = tr(Z @ d(Z))", "W", "no term holds dW"),
    ],
)
def test_gradient_errors_name_the_construct(source: str, wrt: str, needle: str) -> None:
    dJ = NOT.parse(source)
    with pytest.raises(fm.FormulaError, match=needle):
        gradient(dJ, wrt)


def test_gradient_refuses_an_unknown_layout() -> None:
    with pytest.raises(fm.FormulaError, match="layout: expected one of"):
        gradient(NOT.parse("d(J) = G : d(W)"), "W", layout="sideways")
