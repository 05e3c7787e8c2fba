"""Declarations and symbol names."""

from __future__ import annotations

import re

import pytest

from conventions import formulas as fm
from conventions.formulas.names import latex_name, make_name, split_name

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def test_parse_declarations() -> None:
    syms = fm.parse_declarations("x: col[n], W: [m, n], s: scalar, r: row[n], K2: matrix[m*n, 1]")
    assert syms["x"].shape == (fm.Size.of("n"), fm.Size(1)) and syms["x"].orientation == "column"
    assert syms["r"].orientation == "row" and syms["r"].role == "vector"
    assert syms["W"].role == "matrix" and syms["s"].role == "scalar"
    assert syms["K2"].shape[0] == fm.Size.of("m") * fm.Size.of("n")
    assert fm.parse_declarations("h[t-1]: col[n]")["h[t-1]"].name == "h[t-1]"


@pytest.mark.parametrize(
    ("text", "needle"),
    [("x col[n]", "expected 'name: col[n]'"), ("x: col[n, m]", "takes 1"),
     ("x: col[n], x: col[n]", "declared twice"), ("diag: col[n]", "reserved"),
     ("x: col[n-1]", "size"), ("", "at least one")],
)
def test_bad_declarations(text: str, needle: str) -> None:
    with pytest.raises(fm.FormulaError, match=re.escape(needle)):
        fm.parse_declarations(text)


@pytest.mark.parametrize(
    ("name", "latex", "parts"),
    [
        ("W_hh", "W_{hh}", ("W", "hh", None)),
        ("h[t-1]", "h^{(t-1)}", ("h", None, "t-1")),
        ("yhat[t]", "\\hat{y}^{(t)}", ("yhat", None, "t")),
        ("z_1[t]", "z_1^{(t)}", ("z", "1", "t")),
        ("h_{t+1}", "h_{t+1}", ("h", "t+1", None)),
        ("alpha", "\\alpha", ("alpha", None, None)),
    ],
)
def test_names(name: str, latex: str, parts: tuple[str, str | None, str | None]) -> None:
    assert latex_name(name) == latex
    assert split_name(name) == parts
    assert make_name(*parts) == name
    assert fm.parse(latex, "latex") == fm.Sym(name)


def test_bad_names() -> None:
    with pytest.raises(fm.FormulaError):
        split_name("1x")
    with pytest.raises(fm.FormulaError):
        fm.col("x y", "n")
