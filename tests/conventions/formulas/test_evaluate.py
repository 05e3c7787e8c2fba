"""Evaluation against NumPy written out by hand, and on torch and JAX arrays."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import formulas as fm
from conventions import vec

from ..frameworks import native_converter

SYMS = {s.name: s for s in [
    fm.matrix("A", "m", "n"), fm.matrix("B", "n", "m"), fm.matrix("C", "m", "m"),
    fm.col("x", "n"), fm.col("y", "m"), fm.row("r", "m"), fm.scalar("s"),
]}
rng = np.random.default_rng(0)
VALUES = {
    "A": rng.standard_normal((3, 4)), "B": rng.standard_normal((4, 3)),
    "C": rng.standard_normal((3, 3)) + 3 * np.eye(3), "x": rng.standard_normal((4, 1)),
    "y": rng.uniform(0.5, 1.5, (3, 1)), "r": rng.standard_normal((1, 3)),
    "s": np.array([[2.5]]),
}
V = VALUES


def _sig(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


CASES = [
    ("A @ x + 2 * y", V["A"] @ V["x"] + 2 * V["y"]),
    ("s * A", 2.5 * V["A"]),
    ("A @ B - C.T", V["A"] @ V["B"] - V["C"].T),
    ("y * (1 - y)", V["y"] * (1 - V["y"])),
    ("y / r.T", V["y"] / V["r"].T),
    ("kron(x, y.T)", np.kron(V["x"], V["y"].T)),
    ("K(m, n) @ vec(A)", vec(V["A"].T)[:, None]),
    ("vecr(A)", V["A"].reshape(-1, 1)),
    ("diag(y)", np.diag(V["y"][:, 0])),
    ("diag(C)", np.diag(V["C"])[:, None]),
    ("tr(C)", np.trace(V["C"]).reshape(1, 1)),
    ("A : A", np.sum(V["A"] ** 2).reshape(1, 1)),
    ("C**-1 @ y", np.linalg.solve(V["C"], V["y"])),
    ("C**2", V["C"] @ V["C"]),
    ("y**2", V["y"] ** 2),
    ("softmax(y)", np.exp(V["y"]) / np.exp(V["y"]).sum()),
    ("sigmoid(x) * tanh(x) + exp(x) - log(x * x)",
     _sig(V["x"]) * np.tanh(V["x"]) + np.exp(V["x"]) - np.log(V["x"] ** 2)),
    ("(eye(m) - y @ ones(m).T) @ y", (np.eye(3) - V["y"] @ np.ones((1, 3))) @ V["y"]),
    ("sum(A)", np.sum(V["A"]).reshape(1, 1)),
    ("r @ y", V["r"] @ V["y"]),
]


@pytest.mark.parametrize(("source", "expected"), CASES, ids=[c[0] for c in CASES])
def test_numpy(source: str, expected: np.ndarray) -> None:
    got = fm.evaluate(fm.check(fm.parse(source, "text"), SYMS), VALUES)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_other_frameworks_give_their_own_arrays(framework: str) -> None:
    convert = native_converter(framework)
    values = {k: convert(v) for k, v in VALUES.items()}
    # JAX without x64 computes in float32: compare at float32 accuracy there.
    tol = 1e-10 if framework == "torch" else 1e-4
    for source, expected in CASES:
        got = fm.evaluate(fm.check(fm.parse(source, "text"), SYMS), values)
        assert type(got).__module__.split(".")[0] in (framework, "jaxlib")
        np.testing.assert_allclose(np.asarray(got), expected, rtol=tol, atol=tol)


def test_vectors_may_come_one_dimensional_and_sizes_are_read_off() -> None:
    typed = fm.check(fm.parse("A @ x", "text"), SYMS)
    got = fm.evaluate(typed, {"A": VALUES["A"], "x": VALUES["x"][:, 0]})
    np.testing.assert_allclose(got, VALUES["A"] @ VALUES["x"])


def test_missing_or_misshapen_values_are_named() -> None:
    typed = fm.check(fm.parse("A @ x", "text"), SYMS)
    with pytest.raises(fm.FormulaError, match="no value given for symbol 'x'"):
        fm.evaluate(typed, {"A": VALUES["A"]})
    with pytest.raises(fm.FormulaError, match="value of symbol 'x'"):
        fm.evaluate(typed, {"A": VALUES["A"], "x": np.ones((5, 1))}, sizes={"n": 4, "m": 3})


# -- element indices and index sums (1-based, as the seeds write them) -----------------------

IDX = {s.name: s for s in [
    fm.matrix("W", "m", "n"), fm.col("x", "n"), fm.row("r", "m"), fm.col("v", "m"),
    fm.col("y[t]", "m"), fm.col("h[t-1]", "n"), fm.scalar("c[t]"),
]}
W = rng.standard_normal((3, 4))
IV = {"W": W, "x": rng.standard_normal((4, 1)), "r": rng.standard_normal((1, 3)),
      "v": rng.standard_normal((3, 1))}


def _ev(source: str, values: dict[str, np.ndarray] | None = None, **kw: object) -> np.ndarray:
    typed = fm.check(fm.parse(source, "text"), IDX)
    return np.asarray(fm.evaluate(typed, values or IV, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("i", "j"), [(1, 1), (2, 3), (3, 4)])
def test_elements_are_one_based(i: int, j: int) -> None:
    assert _ev(f"elem(W, {i}, {j})")[0, 0] == W[i - 1, j - 1]
    assert _ev("elem(W, i, j)", indices={"i": i, "j": j})[0, 0] == W[i - 1, j - 1]
    np.testing.assert_array_equal(_ev("elem(W, i)", indices={"i": i}), W[i - 1 : i, :])
    assert _ev("elem(x, j)", indices={"j": j})[0, 0] == IV["x"][j - 1, 0]
    assert _ev("elem(r, i)", indices={"i": i})[0, 0] == IV["r"][0, i - 1]
    # (Wᵀ)_{ji} = W_{ij}; an element of a product is that of the computed product
    assert _ev("elem(W.T, j, i)", indices={"i": i, "j": j})[0, 0] == W[i - 1, j - 1]
    np.testing.assert_allclose(_ev("elem(W @ x, i)", indices={"i": i})[0, 0],
                               (W @ IV["x"])[i - 1, 0], rtol=1e-12)


def test_element_index_errors() -> None:
    with pytest.raises(fm.FormulaError, match="no value for the free index 'i'"):
        _ev("elem(W, i, 1)")
    with pytest.raises(fm.FormulaError, match=r"index i=4 is outside 1..3"):
        _ev("elem(W, i, 1)", indices={"i": 4})
    with pytest.raises(fm.FormulaError, match=r"index i=0 is outside 1..3"):
        _ev("elem(W, i, 1)", indices={"i": 0})


def test_element_sums_against_numpy() -> None:
    x, r, v = IV["x"], IV["r"], IV["v"]
    # Σ_j W_ij x_j = (W x)_i for every i
    for i in (1, 2, 3):
        got = _ev("sum[j=1:n](elem(W, i, j) @ elem(x, j))", indices={"i": i})
        np.testing.assert_allclose(got[0, 0], sum(W[i - 1, j] * x[j, 0] for j in range(4)),
                                   rtol=1e-12)
    # Σ_i r_i W_i (rows): r W
    np.testing.assert_allclose(_ev("sum[i](elem(r, i) @ elem(W, i))"), r @ W, rtol=1e-12)
    # Σ_i Σ_j W_ij, and Σ_i v_i * x (a scalar times a vector)
    np.testing.assert_allclose(_ev("sum[i](sum[j](elem(W, i, j)))")[0, 0], W.sum(), rtol=1e-12)
    np.testing.assert_allclose(_ev("sum[i=1:m](elem(v, i) @ x)"), v.sum() * x, rtol=1e-12)


def test_time_sums_take_stacked_values_time_leading() -> None:
    Y = rng.standard_normal((5, 3, 1))
    H = rng.standard_normal((5, 4, 1))
    C = rng.standard_normal((5, 1, 1))
    vals = {"W": W, "y[t]": Y, "h[t-1]": H, "c[t]": C}
    want = sum(C[k] * (Y[k].T @ W @ H[k]) for k in range(5))
    np.testing.assert_allclose(_ev("sum[t=1:T](c[t] @ y[t].T @ W @ h[t-1])", vals),
                               want, rtol=1e-12)
    # the upper limit's size cuts the range; without a size the stack's length is used
    np.testing.assert_allclose(_ev("sum[t=1:T](y[t])", vals, sizes={"T": 2}), Y[0] + Y[1],
                               rtol=1e-12)
    np.testing.assert_allclose(_ev("sum[t](y[t])", vals), Y.sum(axis=0), rtol=1e-12)
    with pytest.raises(fm.FormulaError, match="stacked with time leading"):
        _ev("sum[t=1:T](y[t])", {"y[t]": Y[0]}, sizes={"T": 2})
    with pytest.raises(fm.FormulaError, match="no value for its range"):
        _ev("sum[t](y[t])", {"y[t]": Y[0]})
    with pytest.raises(fm.FormulaError, match="step t=6 is past the 5 stacked steps"):
        _ev("sum[t=1:T](y[t])", vals, sizes={"T": 6})


def test_a_time_sum_with_an_element_sum_inside() -> None:
    # the seeds' loss: Σ_t Σ_i -y_i^(t) log ŷ_i^(t)
    decl = fm.parse_declarations("y[t]: col[n], yhat[t]: col[n]")
    Y, Yh = rng.uniform(0.1, 1, (4, 3, 1)), rng.uniform(0.1, 1, (4, 3, 1))
    typed = fm.check(fm.parse("sum[t](sum[i=1:n](-elem(y[t], i) @ log(elem(yhat[t], i))))",
                              "text"), decl)
    got = fm.evaluate(typed, {"y[t]": Y, "yhat[t]": Yh})
    np.testing.assert_allclose(got[0, 0], -np.sum(Y * np.log(Yh)), rtol=1e-12)


def test_assignment_evaluates_its_right_side_and_comparisons_refuse() -> None:
    np.testing.assert_allclose(_ev("W := W - 2 * W"), -W, rtol=1e-12)
    with pytest.raises(fm.FormulaError, match=r"the relation \\neq has no value"):
        _ev("W != W")


# -- K(m, n) v as a permutation -----------------------------------------------------------------


def _dense_commutation(m: int, n: int) -> np.ndarray:
    """K with K vec(X) = vec(Xᵀ) for X m × n: vec(X)[j m + i] = X[i, j] = vec(Xᵀ)[i n + j]."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[i * n + j, j * m + i] = 1.0
    return K


@pytest.mark.parametrize(("m", "n"), [(3, 4), (2, 5), (1, 3), (4, 1)])
def test_commutation_times_a_vector_is_vec_of_the_transpose(m: int, n: int) -> None:
    syms = fm.parse_declarations("X: [m, n], Y: [m*n, q]")
    X = rng.standard_normal((m, n))
    vec_xt = X.T.reshape(-1, 1, order="F")  # vec(Xᵀ), column-major, no np.kron
    got = fm.evaluate(fm.check(fm.parse("K(m, n) @ vec(X)", "text"), syms), {"X": X})
    np.testing.assert_array_equal(got, vec_xt)
    # several columns at once, and against the dense matrix built by hand
    Y = rng.standard_normal((m * n, 3))
    got = fm.evaluate(fm.check(fm.parse("K(m, n) @ Y", "text"), syms), {"Y": Y},
                      sizes={"m": m, "n": n})
    np.testing.assert_allclose(got, _dense_commutation(m, n) @ Y, rtol=0, atol=0)
    dense = fm.evaluate(fm.check(fm.parse("K(m, n)", "text"), syms), {"X": X},
                        sizes={"m": m, "n": n})
    np.testing.assert_array_equal(dense, _dense_commutation(m, n))
    # the transpose of a product, evaluated through the dense K, agrees too
    got = fm.evaluate(fm.check(fm.parse("(Y.T @ K(m, n).T).T", "text"), syms), {"Y": Y},
                      sizes={"m": m, "n": n})
    np.testing.assert_allclose(got, _dense_commutation(m, n) @ Y, atol=1e-15)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_commutation_permutation_on_other_frameworks(framework: str) -> None:
    convert = native_converter(framework)
    syms = fm.parse_declarations("Y: [m*n, q]")
    Y = rng.standard_normal((12, 2))
    got = fm.evaluate(fm.check(fm.parse("K(m, n) @ Y", "text"), syms), {"Y": convert(Y)},
                      sizes={"m": 3, "n": 4})
    np.testing.assert_allclose(np.asarray(got), _dense_commutation(3, 4) @ Y, atol=1e-6)


def test_a_free_step_takes_its_slice_of_a_stacked_value() -> None:
    decl = fm.parse_declarations("a[t]: col[n], X: [n, n]")
    stack = np.arange(12.0).reshape(3, 4, 1)  # steps 1, 2, 3 (time leading)
    free = fm.check(fm.parse("a[t]", declared=decl), decl)
    np.testing.assert_array_equal(fm.evaluate(free, {"a[t]": stack}, steps={"t": 2}), stack[1])
    # A sum over t inside still runs over every step, whatever the outer step.
    mixed = fm.check(fm.parse("sum[t](a[t]) - a[t]", declared=decl), decl)
    got = fm.evaluate(mixed, {"a[t]": stack}, steps={"t": 3})
    np.testing.assert_array_equal(got, stack.sum(axis=0) - stack[2])


def test_a_derivative_of_a_time_sum_does_not_depend_on_the_summed_step() -> None:
    decl = fm.parse_declarations("a[t]: col[n], X: [n, n], b: col[n]")
    summed = fm.parse("d(sum[t](a[t].T @ X @ b))/d(X)", declared=decl)
    stepped = fm.parse("d(a[t].T @ X @ b)/d(X)", declared=decl)
    from conventions.formulas.shapes import time_var_in

    assert not time_var_in(summed, "t")  # the sum binds t: one value, not one per step
    assert time_var_in(stepped, "t")


@pytest.mark.parametrize(
    ("source", "factor"), [(r"\frac{1}{4} X", 0.25), (r"\frac{3}{2} X", 1.5), ("2 X", 2.0)]
)
def test_a_fraction_of_numbers_scales(source: str, factor: float) -> None:
    # ¼ X is X scaled by a quarter (entrywise 1 ⊘ 4 would give 1 a matrix shape of ones).
    decl = fm.parse_declarations("X: [m, n]")
    tree = fm.parse(source, "latex", declared=decl)
    typed = fm.check(tree, decl)
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(fm.evaluate(typed, {"X": X}), factor * X)
    assert tree == fm.Scale(fm.Num(factor), fm.Sym("X"))


def test_a_fraction_with_a_symbol_stays_a_division() -> None:
    decl = fm.parse_declarations("X: [m, n]")
    assert fm.parse(r"\frac{X}{4}", "latex", declared=decl) == fm.HadamardDiv(
        fm.Sym("X"), fm.Num(4))
