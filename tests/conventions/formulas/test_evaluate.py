"""Evaluation against NumPy written out by hand, and on torch and JAX arrays."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import formulas as fm
from conventions.vec import vec

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
