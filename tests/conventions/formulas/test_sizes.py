"""Symbolic sizes and their unification."""

from __future__ import annotations

import pytest

from conventions import formulas as fm
from conventions.formulas.sizes import Unifier, format_shape

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def test_size_equality_ignores_order_but_printing_keeps_it() -> None:
    a = fm.Size.of("n_i") * fm.Size.of("n_h")
    b = fm.Size.of("n_h") * fm.Size.of("n_i")
    assert a == b and hash(a) == hash(b)
    assert str(a) == "n_i·n_h" and str(b) == "n_h·n_i"
    assert format_shape((fm.Size.of("n_h"), a)) == "(n_h × n_i·n_h)"
    assert fm.Size(2) * fm.Size.of("n") != fm.Size.of("n")


@pytest.mark.parametrize(
    ("text", "coeff", "factors"),
    [("3", 3, ()), ("n_h", 1, ("n_h",)), ("2*n", 2, ("n",)), ("n_i·n_h", 1, ("n_i", "n_h")),
     ("D_h", 1, ("n_h",)), (r"\left|V\right|", 1, ("n_y",))],
)
def test_parse_size(text: str, coeff: int, factors: tuple[str, ...]) -> None:
    size = fm.parse_size(text, {"D_h": "n_h", "|V|": "n_y"})
    assert (size.coeff, size.factors) == (coeff, factors)


@pytest.mark.parametrize("bad", ["", "n-h", "0", "a+b"])
def test_parse_size_rejects(bad: str) -> None:
    with pytest.raises(fm.FormulaError):
        fm.parse_size(bad)


def test_unifier_solves_one_unknown_and_divides() -> None:
    u = Unifier()
    x, y = u.fresh(), u.fresh()
    n, m = fm.Size.of("n"), fm.Size.of("m")
    assert u.unify(x * n, m * n) and u.resolve(x) == m
    assert u.unify(y, x) and u.resolve(y) == m
    assert not u.unify(n, m)
    z = u.fresh()
    assert not u.unify(fm.Size(2) * z, fm.Size(3))
    assert u.unify(fm.Size(2) * z, fm.Size(6) * n) and u.resolve(z) == fm.Size(3) * n
