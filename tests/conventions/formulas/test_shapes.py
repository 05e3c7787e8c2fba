"""Shape checking: inference, mismatches named with both shapes, annotations, layouts."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import formulas as fm
from conventions.layouts import layout_shape

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

SEED001 = {s.name: s for s in [fm.col("e_1", "n_i"), fm.col("h_1", "n_h"),
                               fm.col("w", "n_i*n_h")]}


def test_seed001_asker_formula_is_rejected_with_both_shapes() -> None:
    source = r"(e_1^T \otimes I_{n_h}) \mathrm{diag}(1 - h_1^2)"
    parsed = fm.parse_with_info(source)
    with pytest.raises(fm.FormulaError) as info:
        fm.check(parsed.tree, SEED001, parsed=parsed)
    message = str(info.value)
    assert "(n_h × n_i·n_h)" in message and "(n_h × n_h)" in message
    assert "e_1^T \\otimes I_{n_h}" in message  # the offending sub-expression, as written
    assert "\\mathrm{diag}(1 - h_1^2) is (n_h × n_h)" in message  # and the other operand
    assert "^" in message.splitlines()[-1]


def test_seed001_answer_types_in_denominator_layout() -> None:
    source = r"\frac{\partial h_1}{\partial w} = (e_1 \otimes I_{n_h})\text{diag}( 1- h_1^2)"
    typed = fm.check(fm.parse(source), SEED001, layout="denominator")
    n_i, n_h = fm.Size.of("n_i"), fm.Size.of("n_h")
    assert typed.shape == (n_i * n_h, n_h)
    with pytest.raises(fm.FormulaError, match="two sides differ"):
        fm.check(fm.parse(source), SEED001, layout="numerator")


def test_bare_identity_and_ones_take_their_size_from_context() -> None:
    syms = {s.name: s for s in [fm.col("w", "m"), fm.col("y", "m"), fm.matrix("U", "n", "m")]}
    typed = fm.check(fm.parse("(I - w 1^T) y", "latex"), syms)
    assert typed.shape == (fm.Size.of("m"), fm.Size(1))
    identity = typed.find(fm.Identity())
    assert identity is not None and identity.shape == (fm.Size.of("m"),) * 2
    with pytest.raises(fm.FormulaError, match="size of I"):
        fm.check(fm.parse("I", "latex"), syms)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("W + x", "sum: shapes differ"),
        ("W @ W", "inner sizes differ"),
        ("W**2", "non-square"),
        ("softmax(W)", "softmax: expected a vector"),
        ("tr(W)", "tr: expected a square"),
        ("q + x", "unknown symbol 'q'"),
        ("diag(W)", "diag: expected a vector or a square matrix"),
        ("d(x)/d(W)", "no numerator, denominator or mixed matrix"),
    ],
)
def test_mismatches(source: str, needle: str) -> None:
    syms = {s.name: s for s in [fm.matrix("W", "m", "n"), fm.col("x", "n")]}
    with pytest.raises(fm.FormulaError, match=needle):
        fm.check(fm.parse(source, "text"), syms)


def test_size_annotations_are_checked() -> None:
    seed000 = fm.Notation(
        "s", {s.name: s for s in [fm.row("h[t]", "n_h"), fm.matrix("U", "n_h", "n_y")]},
        sizes={"D_h": "n_h", "|V|": "n_y"},
    )
    seed000.parse(r"\underset{1 \times |V|}{h^{(t)} U}")
    seed000.parse(r"\underset{1 \times \left|V\right|,}{h^{(t)} U}")
    with pytest.raises(fm.FormulaError, match=r"annotation says \(n_h × n_y\)"):
        seed000.parse(r"\underset{D_h \times |V|}{h^{(t)} U}")


_KINDS = {"scalar": (1, 1), "column": (3, 1), "row": (1, 3), "matrix": (3, 4)}


@pytest.mark.parametrize("layout", ["numerator", "denominator", "mixed"])
@pytest.mark.parametrize("num", list(_KINDS))
@pytest.mark.parametrize("den", list(_KINDS))
def test_derivative_shape_agrees_with_conventions_layouts(layout: str, num: str, den: str) -> None:
    n2, d2 = _KINDS[num], (2, 5) if den == "matrix" else _KINDS[den]
    n_shape = tuple(fm.Size(v) for v in n2)
    d_shape = tuple(fm.Size(v) for v in d2)

    def dims(s: tuple[int, int]) -> tuple[int, ...]:
        return () if s == (1, 1) else (s[0] * s[1],) if 1 in s else s

    try:
        want = layout_shape(layout, out_shape=dims(n2), in_shape=dims(d2))
    except ValueError:
        with pytest.raises(fm.FormulaError):
            fm.derivative_shape(n_shape, d_shape, layout)  # type: ignore[arg-type]
        return
    got = fm.derivative_shape(n_shape, d_shape, layout)  # type: ignore[arg-type]
    got_ints = (got[0].coeff, got[1].coeff)
    if want == ():  # a scalar: a 1 × 1 matrix here
        assert got_ints == (1, 1)
    elif len(want) == 1:  # mixed gradient by a vector: the vector's own orientation
        assert got_ints == d2
    else:
        assert got_ints == tuple(want)
    assert np.prod(got_ints) == np.prod(want, dtype=int)


NEW = fm.parse_declarations("W: [m, n], x: col[n], v: col[3], y[t]: col[m], s: scalar")


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ("d(W) + x", ["sum: shapes differ", "d(W) is (m × n)", "x is (n × 1)"]),
        ("d(W) @ d(W)", ["inner sizes differ", "d(W) is (m × n)", "(n columns against m rows)"]),
        ("W := x", ["the two sides differ", "W is (m × n)", "x is (n × 1)"]),
        ("elem(W, i) + x", ["sum: shapes differ", "elem(W, i) is (1 × n)", "x is (n × 1)"]),
        ("sum[t](y[t]) + x", ["sum: shapes differ", "sum[t](y[t]) is (m × 1)", "x is (n × 1)"]),
        ("sum[j=1:m](elem(x, j))", ["the upper limit is m, but j indexes a dimension of size n"]),
        ("sum[j=2:n](elem(x, j))", ["ranges start at 1", "j=2"]),
        ("sum[j](W @ x)", ["the index j appears nowhere in the body"]),
        ("elem(x, i) + elem(W, i, 1)", ["index i ranges over m here but over n elsewhere"]),
        ("elem(v, 4)", ["index 4 is past the size 3"]),
        ("d(d(W))", ["second order"]),
    ],
)
def test_new_construct_errors_name_both_shapes_under_a_caret(
    source: str, needles: list[str]
) -> None:
    parsed = fm.parse_with_info(source, "text", declared=set(NEW))
    with pytest.raises(fm.FormulaError) as info:
        fm.check(parsed.tree, NEW, parsed=parsed)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert message.splitlines()[-1].strip().startswith("^"), message


def test_shapes_of_the_new_constructs() -> None:
    m, n, one = fm.Size.of("m"), fm.Size.of("n"), fm.Size(1)
    for source, shape in [
        ("elem(W, i, j)", (one, one)), ("elem(W, i)", (one, n)), ("elem(x, j)", (one, one)),
        ("d(W).T", (n, m)), ("sum[t](y[t])", (m, one)),
        ("sum[j=1:n](elem(W, i, j) @ elem(x, j))", (one, one)), ("W := W", (m, n)),
    ]:
        assert fm.check(fm.parse(source, "text", declared=set(NEW)), NEW).shape == shape, source
