"""The simplifier: the listed rules, and on random formulas the value is kept and no double
transpose is left."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from conventions import formulas as fm
from conventions.formulas import ast as A

from ._strategies import INDICES, SYMBOLS, evaluation_inputs, formulas

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

SYMS = {s.name: s for s in [
    fm.matrix("A", "m", "n"), fm.matrix("B", "n", "p"), fm.col("a", "m"), fm.col("b", "m"),
    fm.col("v", "n"), fm.col("e", "q"), fm.scalar("s"),
]}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(A @ B).T", "B.T @ A.T"),
        ("(A.T).T", "A"),
        ("kron(A, B).T", "kron(A.T, B.T)"),
        ("(a * b).T", "a.T * b.T"),
        ("(a - b).T", "a.T - b.T"),
        ("diag(v).T", "diag(v)"),
        ("diag(v.T)", "diag(v)"),
        ("eye(m).T", "eye(m)"),
        ("K(m, n).T", "K(n, m)"),
        ("s.T", "s"),
        ("tr(A @ A.T).T", "tr(A @ A.T)"),
        ("eye(m) @ A @ eye(n)", "A"),
        ("--A", "A"),
        ("-(a - b)", "b - a"),
        ("-(A.T @ (a - b))", "A.T @ (b - a)"),
        ("(-A.T) @ a", "-(A.T @ a)"),
        ("K(m, n) @ K(n, m) @ vec(A)", "vec(A)"),
        ("K(1, n) @ v", "v"),
        ("K(m, q) @ kron(e, eye(m))", "kron(eye(m), e)"),
        ("tanh(a).T", "tanh(a.T)"),
        ("(1 - a).T", "1 - a.T"),
        ("elem(A.T, j, i)", "elem(A, i, j)"),
        ("elem(a.T, i)", "elem(a, i)"),
        ("elem(-A, i)", "-elem(A, i)"),
        ("d(A).T", "d(A.T)"),
        ("d(-A)", "-d(A)"),
        ("sum[i](elem(a, i) @ A).T", "sum[i](A.T @ elem(a, i))"),
        # s I is a matrix: the identity stays beside a scalar (a bug found by the strategies)
        ("s @ eye(n)", "s @ eye(n)"),
        ("eye(m) @ s @ eye(m)", "s @ eye(m)"),
    ],
)
def test_rules(source: str, expected: str) -> None:
    got = fm.simplify(fm.parse(source, "text"), SYMS)
    assert got == fm.parse(expected, "text"), fm.text(got)


def _double_transposes(e: A.Expr) -> int:
    return sum(
        1 for n in fm.walk(e) if isinstance(n, A.Transpose) and isinstance(n.operand, A.Transpose)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(formulas())
def test_simplify_keeps_the_value_and_leaves_no_double_transpose(f: A.Expr) -> None:
    simple = fm.simplify(f, SYMBOLS)
    assert _double_transposes(simple) == 0
    values, sizes = evaluation_inputs(SYMBOLS, 1)
    before = fm.evaluate(fm.check(f, SYMBOLS), values, sizes=sizes, indices=INDICES)
    after = fm.evaluate(fm.check(simple, SYMBOLS), values, sizes=sizes, indices=INDICES)
    np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)
