"""The precedence tables of docs/formulas.md, checked against the parsers: each row's
example reads as its "reads as" column and not as its "not as" column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conventions import formulas as fm

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

PAGE = Path(__file__).resolve().parents[3] / "docs" / "formulas.md"
DECLARED = {"A", "B", "C", "D", "a", "b", "c", "v", "W", "L", "x"}


def _rows(syntax: str) -> list[tuple[str, str, str, str]]:
    """``(binds, example, reads as, not as)`` of the table after the page's marker."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"<!-- precedence: {syntax} -->")
    rows = []
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        codes = [re.fullmatch(r"`(.*)`", c) for c in cells[2:5]]
        assert all(codes), f"{syntax} row {line!r}: expected three `code` cells"
        rows.append((cells[0], *(m[1] for m in codes if m)))  # type: ignore[arg-type]
    return rows


ROWS = [(syntax, *row) for syntax in ("latex", "text") for row in _rows(syntax)]


def test_the_tables_are_there() -> None:
    assert len(_rows("latex")) >= 10 and len(_rows("text")) >= 7
    for syntax in ("latex", "text"):
        levels = [int(binds) for binds, *_ in _rows(syntax)]
        assert levels == sorted(levels), f"{syntax}: rows from the tightest to the loosest"


@pytest.mark.parametrize(("syntax", "binds", "example", "reads", "not_as"), ROWS,
                         ids=[f"{r[0]}:{r[2]}" for r in ROWS])
def test_each_row_reads_as_the_table_says(
    syntax: str, binds: str, example: str, reads: str, not_as: str,
) -> None:
    got = fm.parse(example, syntax, declared=DECLARED)  # type: ignore[arg-type]
    assert got == fm.parse(reads, syntax, declared=DECLARED)  # type: ignore[arg-type]
    assert got != fm.parse(not_as, syntax, declared=DECLARED)  # type: ignore[arg-type]


def test_kron_binds_more_loosely_than_juxtaposition_in_explicit_trees() -> None:
    A, B, C, D = (fm.Sym(n) for n in "ABCD")
    want = fm.Kron(fm.MatMul(A, C), fm.MatMul(B, D))
    assert fm.parse(r"A C \otimes B D", "latex", declared=DECLARED) == want
    assert fm.parse("A @ C ⊗ B @ D", "text", declared=DECLARED) == want
    # (A⊗B)(C⊗D): the brackets make the Kronecker products the factors.
    assert fm.parse(r"(A \otimes B)(C \otimes D)", "latex", declared=DECLARED) == fm.MatMul(
        fm.Kron(A, B), fm.Kron(C, D))
