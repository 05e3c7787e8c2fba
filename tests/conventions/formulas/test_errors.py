"""FormulaError: one type, a ConventionError, with a caret under the position."""

from __future__ import annotations

import pytest

from conventions import ConventionError
from conventions import formulas as fm

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py


def test_formula_error_is_a_convention_error_and_a_value_error() -> None:
    assert issubclass(fm.FormulaError, ConventionError)
    assert issubclass(fm.FormulaError, ValueError)


def test_caret_line_points_at_the_position() -> None:
    err = fm.FormulaError("bad thing", source="first\nab cd", position=9, length=2)
    assert err.reason == "bad thing" and err.position == 9
    assert str(err).splitlines() == ["bad thing (at column 4)", "  ab cd", "     ^^"]
    assert str(fm.FormulaError("no source")) == "no source"
