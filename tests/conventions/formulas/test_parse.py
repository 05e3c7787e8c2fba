"""Both parsers: the seeds' formulas, structure, errors with carets, fuzzing, no code runs."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conventions import formulas as fm
from conventions.formulas import ast as A

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

SEED000_ANSWER = (
    r"\frac{\partial J}{\partial H} = {h^{(t-1)}}^T\,\Big(y^{(t)}-{\hat y^{(t)}}\Big)\,U^T\,"
    r"\Big({\rm Diag}(h^{(t)})-{\rm Diag}(h^{(t)})^2\Big)"
)
SEED000_ASKER = (
    r"\underset{D_h \times D_h}{\frac{\partial J^{(t)}}{\partial H}\bigg|_t} = "
    r"\underset{D_h \times 1}{(h^{(t - 1)})^T} \underset{1 \times \left|V\right|,}"
    r"{(\hat{y}^{(t)} - y^{(t)})} \underset{\left|V\right| \times D_h,}{U^T} "
    r"\underset{D_h \times D_h,}{diag\{h^{(t)} \circ (1 - h^{(t)})\}}"
)

# Every matrix formula of the seeds, as written there (index sums Σ_j, bmatrix rows,
# differentials dJ = tr(…) and the update rule := are not part of the language).
SEED_FORMULAS = [
    SEED000_ANSWER,
    SEED000_ASKER,
    r"h^{(t)} = \mathrm{sigmoid}\bigg( h^{(t - 1)} H + e^{(t)} I + b_1 \bigg)",
    r"\hat y^{(t)} = \mathrm{softmax}\bigg( h^{(t)} U + b_2 \bigg)",
    r"h_1 = \text{tanh}(W_{hx}^T e_1 + W_{hh}^T h_0)",
    r"f = I_{n_h} W_{hx}^T e_1",
    r"f = (e_1^T \otimes I_{n_h}) \text{vec}(W_{hx}^T)",
    r"\frac{\partial f}{\partial w} = e_1^T \otimes I_{n_h}",
    r"\frac{\partial h_1}{\partial w} = (e_1^T \otimes I_{n_h}) \text{ diag}( 1- h_1^2)",
    r"\frac{\partial h_1}{\partial w} = (e_1^T \otimes I_{n_h})^T \text{diag}( 1- h_1^2)",
    r"\frac{\partial h_1}{\partial w} = (e_1 \otimes I_{n_h})\text{diag}( 1- h_1^2)",
    r"\frac{\partial (Ax)}{\partial x}=A^T",
    r"\mathbf{h_{t+1}}=tanh(\mathbf{ U x_{t}+W h_{t}})",
    r"\mathbf{z}_a^{(t)} = \mathbf{W}_{aa}^\top \mathbf{a}^{(t-1)} + \mathbf{W}_{ax}^\top "
    r"\mathbf{x}^{(t)} + \mathbf{b}_a",
    r"\mathbf{a}^{(t)} = \tanh(\mathbf{z}_a^{(t)})",
    r"\hat{\mathbf{y}}^{(t)} = \text{softmax}(\mathbf{z}_y^{(t)})",
    r"\frac{\partial J}{\partial \mathbf{z}_y^{(t)}} = \frac{\partial J}{\partial "
    r"\hat{\mathbf{y}}^{(t)}} \left(\text{diag}(\hat{\mathbf{y}}^{(t)}) - \hat{\mathbf{y}}^{(t)}"
    r" (\hat{\mathbf{y}}^{(t)})^\top \right)",
    r"\frac{\partial J}{\partial \mathbf{W}_{ya}} = \left(\frac{\partial J}{\partial "
    r"\mathbf{z}_y^{(t)}} \right)^\top (\mathbf{a}^{(t)})^\top",
    r"\frac{\partial J}{\partial \mathbf{a}^{(t)}} = \frac{\partial J}{\partial "
    r"\mathbf{z}_y^{(t)}} \mathbf{W}_{ya}^\top",
    r"\frac{\partial J}{\partial \mathbf{z}_a^{(t)}} = \frac{\partial J}{\partial "
    r"\mathbf{a}^{(t)}} \circ (\mathbf{1}_{(n_a,1)} - \tanh^2(\mathbf{z}_a^{(t)}))^\top",
    r"\nabla_{\mathbf{W}_{aa}}^{(t)} J = \mathbf{a}^{(t-1)} \frac{\partial J}{\partial "
    r"\mathbf{z}_a^{(t)}}",
    r"\nabla_{\mathbf{b}_y}^{(t)} J = \left(\frac{\partial J}{\partial \mathbf{z}_y^{(t)}} "
    r"\right)^\top",
    r"\frac{\partial J}{\partial H} = gy^T(I-1w^T)U^T(F-F^2)",
    r"A:B = {\rm tr}(A^TB)",
    r"f\circ g = Gf",
    r"f\oslash g = G^{-1}f",
]


@pytest.mark.parametrize("source", SEED_FORMULAS)
def test_every_seed_formula_parses_and_round_trips(source: str) -> None:
    declared = {"I"} if "e^{(t)} I" in source else None
    tree = fm.parse(source, declared=declared)
    assert isinstance(tree, A.Equation)
    for syntax in ("latex", "text"):
        assert fm.parse(fm.render(tree, syntax), syntax, declared=declared) == tree


def test_seed000_answer_structure() -> None:
    tree = fm.parse(SEED000_ANSWER, declared={"I"})
    diag_h = A.Call("diag", A.Sym("h[t]"))
    expected = A.Equation(
        A.Derivative(A.Sym("J"), A.Sym("H")),
        A.MatMul(
            A.MatMul(
                A.MatMul(A.Transpose(A.Sym("h[t-1]")), A.Sub(A.Sym("y[t]"), A.Sym("yhat[t]"))),
                A.Transpose(A.Sym("U")),
            ),
            A.Sub(diag_h, A.Power(diag_h, 2)),  # Diag(h)^2 squares the diag, not h
        ),
    )
    assert tree == expected


def test_asker_formula_bar_annotations_and_bare_diag() -> None:
    parsed = fm.parse_with_info(SEED000_ASKER, declared={"I"})
    lhs = parsed.tree.lhs  # type: ignore[attr-defined]
    assert lhs == A.Derivative(A.Sym("J[t]"), A.Sym("H"), at="t")
    assert [a.text.strip() for a in parsed.annotations][:2] == ["D_h \\times D_h", "D_h \\times 1"]
    assert len(parsed.annotations) == 5
    diag = parsed.tree.rhs.right  # type: ignore[attr-defined]
    assert diag == A.Call("diag", A.Hadamard(A.Sym("h[t]"), A.Sub(A.Ones(), A.Sym("h[t]"))))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("I_{n_h}", A.Identity(fm.Size.of("n_h"))),
        ("I", A.Identity()),
        ("K_{(m,n)}", A.Commutation(fm.Size.of("m"), fm.Size.of("n"))),
        (r"\mathbf{1}_{(n_a,1)}", A.Ones(fm.Size.of("n_a"), fm.Size(1))),
        ("W^{\\mathsf T}", A.Transpose(A.Sym("W"))),
        ("W^{\\top}", A.Transpose(A.Sym("W"))),
        ("W^\\intercal", A.Transpose(A.Sym("W"))),
        ("\\operatorname{Diag}(v)", A.Call("diag", A.Sym("v"))),
        ("\\text{diag}\\{v\\}", A.Call("diag", A.Sym("v"))),
        ("\\mathrm{diag}\\left(v\\right)", A.Call("diag", A.Sym("v"))),
        ("\\sigma(a) \\odot b", A.Hadamard(A.Call("sigmoid", A.Sym("a")), A.Sym("b"))),
        ("\\tanh^2(z)", A.Power(A.Call("tanh", A.Sym("z")), 2)),
        ("2 x", A.Scale(A.Num(2), A.Sym("x"))),
        ("2 \\cdot x", A.MatMul(A.Num(2), A.Sym("x"))),
        ("\\frac{a}{b}", A.HadamardDiv(A.Sym("a"), A.Sym("b"))),
        ("\\frac{dJ}{dH}", A.Derivative(A.Sym("J"), A.Sym("H"))),
        ("\\frac{\\mathrm{d} J}{\\mathrm{d} H}", A.Derivative(A.Sym("J"), A.Sym("H"))),
        ("\\nabla_W J", A.Derivative(A.Sym("J"), A.Sym("W"), "nabla")),
        ("A : B", A.Frobenius(A.Sym("A"), A.Sym("B"))),
    ],
)
def test_latex_constructs(source: str, expected: A.Expr) -> None:
    assert fm.parse(source, "latex") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("dJ/dH = W", A.Equation(A.Derivative(A.Sym("J"), A.Sym("H")), A.Sym("W"))),
        ("dJ[t]/dH|t = W",
         A.Equation(A.Derivative(A.Sym("J[t]"), A.Sym("H"), at="t"), A.Sym("W"))),
        ("d(vec(W.T))/d(w)", A.Derivative(A.Call("vec", A.Transpose(A.Sym("W"))), A.Sym("w"))),
        ("grad(J, W, t)", A.Derivative(A.Sym("J"), A.Sym("W"), "nabla", None, "t")),
        ("kron(a, eye(n))", A.Kron(A.Sym("a"), A.Identity(fm.Size.of("n")))),
        ("a * b", A.Hadamard(A.Sym("a"), A.Sym("b"))),
        ("2 * b", A.Scale(A.Num(2), A.Sym("b"))),
        ("a / b", A.HadamardDiv(A.Sym("a"), A.Sym("b"))),
        ("-x**2", A.Neg(A.Power(A.Sym("x"), 2))),
        ("W**-1", A.Power(A.Sym("W"), -1)),
        ("h[t - 1].T", A.Transpose(A.Sym("h[t-1]"))),
        ("K(m, n)", A.Commutation(fm.Size.of("m"), fm.Size.of("n"))),
        ("ones(n)", A.Ones(fm.Size.of("n"), fm.Size(1))),
        ("1 - h", A.Sub(A.Ones(), A.Sym("h"))),
        ("frob(A, B)", A.Frobenius(A.Sym("A"), A.Sym("B"))),
        ("σ(x) ∘ y", A.Hadamard(A.Call("sigmoid", A.Sym("x")), A.Sym("y"))),
    ],
)
def test_text_constructs(source: str, expected: A.Expr) -> None:
    assert fm.parse(source, "text") == expected


def test_declared_I_is_a_symbol_and_I_n_still_the_identity() -> None:
    assert fm.parse("e I", "latex", declared={"I", "e"}) == A.MatMul(A.Sym("e"), A.Sym("I"))
    assert fm.parse("I_{n}", "latex", declared={"I"}) == A.Identity(fm.Size.of("n"))
    assert fm.parse("e I", "latex") == A.MatMul(A.Sym("e"), A.Identity())


def test_detect_syntax() -> None:
    assert fm.detect_syntax(r"\frac{a}{b}") == "latex"
    assert fm.detect_syntax("h^T") == "latex"
    assert fm.detect_syntax("h.T @ W") == "text"


def test_parse_equations_splits_aligned_chains() -> None:
    block = r"""\begin{align*} y &= A x \\ &= B x = C x \end{align*}"""
    eqs = fm.parse_equations(block)
    assert [e.rhs for e in eqs] == [
        A.MatMul(A.Sym(n), A.Sym("x")) for n in ("A", "B", "C")
    ]
    assert all(e.lhs == A.Sym("y") for e in eqs)
    with pytest.raises(fm.FormulaError, match="parse_equations"):
        fm.parse("a = b = c")


@pytest.mark.parametrize(
    ("source", "syntax", "column", "needle"),
    [
        ("h.T @ @ W", "text", 7, "unexpected '@'"),
        ("h.T @ (W", "text", 9, "end of formula"),
        ("foo(x)", "text", 1, "unknown function 'foo'"),
        ("kron(a)", "text", 1, "two arguments"),
        (r"\frac{\partial J}{\partial H} = W^{q}", "latex", 36, "superscript"),
        (r"x \foo y", "latex", 3, "unknown command"),
        ("a $ b", "text", 3, "unexpected character"),
        (r"\mathrm{diag}", "latex", 1, "expected its argument"),
    ],
)
def test_errors_name_the_position_with_a_caret(
    source: str, syntax: str, column: int, needle: str
) -> None:
    with pytest.raises(fm.FormulaError) as info:
        fm.parse(source, syntax)  # type: ignore[arg-type]
    message = str(info.value)
    assert needle in message
    assert f"(at column {column})" in message
    line, caret = message.splitlines()[-2:]
    assert line.strip() == source.strip()
    assert caret.index("^") - 2 == column - 1  # both lines are indented by two spaces


def test_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # The builtins' names are assembled so that this file itself never spells a call.
    run_code = ["ev" + "al", "ex" + "ec"]
    payloads = [
        f"__import__('os').system('touch {marker}')",
        *(f"{name}(\"open('{marker}', 'w')\")" for name in run_code),
        "(lambda: 1)()",
        "x.__class__",
    ]
    for payload in payloads:
        for syntax in ("text", "latex", "auto"):
            with pytest.raises(fm.FormulaError):
                fm.parse(payload, syntax)  # type: ignore[arg-type]
    assert not marker.exists()


def test_package_source_never_calls_the_code_runners() -> None:
    package = Path(fm.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\b(eval|exec)\(", text), path.name


FUZZ = int(os.environ.get("FORMULA_FUZZ_EXAMPLES", "10000"))
_PIECES = [
    *"abxyhWHIUKde1029 ()[]{}^_+-*/@.:=|,'\\$#",
    r"\frac", r"\partial", r"\circ", r"\otimes", r"\oslash", r"\mathrm{diag}", r"\top",
    r"\hat", r"\left(", r"\right)", r"\nabla", r"\underset", r"\bigg|", r"\mathbf", r"\tanh",
    r"\sigma", r"\rm", r"\{", r"\}", ".T", "**", "d(", "grad(", "kron(", "diag(", "eye(",
    "K(", "ones(", "h[t-1]", "^{(t)}", "_{n_h}", "^T", "=", "\n", "é", "∘", "ᵀ",
]


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join),
       st.sampled_from(["text", "latex", "auto"]))
def test_fuzz_only_formula_errors_escape(source: str, syntax: str) -> None:
    try:
        tree = fm.parse(source, syntax)  # type: ignore[arg-type]
    except fm.FormulaError as exc:
        assert exc.reason
        return
    assert isinstance(tree, A.Expr)


@settings(max_examples=max(FUZZ // 10, 100), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.text(max_size=40), st.sampled_from(["text", "latex"]))
def test_fuzz_arbitrary_unicode(source: str, syntax: str) -> None:
    with contextlib.suppress(fm.FormulaError):
        fm.parse(source, syntax)  # type: ignore[arg-type]


_NEW_DECL = {"W", "x", "y[t]", "J", "alpha"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("sum[j=1:n](elem(x, j))", A.IndexSum(A.Indexed(A.Sym("x"), "j"), "j=1", "n")),
        ("sum[t](y[t])", A.IndexSum(A.Sym("y[t]"), "t", None)),
        ("sum[t=1:T](y[t]) @ alpha",
         A.MatMul(A.IndexSum(A.Sym("y[t]"), "t=1", "T"), A.Sym("alpha"))),
        ("elem(W, i, j)", A.Indexed(A.Sym("W"), "i,j")),
        ("elem(W, 2)", A.Indexed(A.Sym("W"), "2")),
        ("elem(W.T @ x, 1)", A.Indexed(A.MatMul(A.Transpose(A.Sym("W")), A.Sym("x")), "1")),
        ("d(W) @ x", A.MatMul(A.Differential(A.Sym("W")), A.Sym("x"))),
        ("d(W.T)", A.Differential(A.Transpose(A.Sym("W")))),
        ("d(J) = W : d(W)",
         A.Equation(A.Differential(A.Sym("J")),
                    A.Frobenius(A.Sym("W"), A.Differential(A.Sym("W"))))),
        ("W := W - 0.5 * d(W)",
         A.Relation(":=", A.Sym("W"),
                    A.Sub(A.Sym("W"), A.Scale(A.Num(0.5), A.Differential(A.Sym("W")))))),
        ("J != alpha", A.Relation("\\neq", A.Sym("J"), A.Sym("alpha"))),
        ("J <= alpha", A.Relation("\\leq", A.Sym("J"), A.Sym("alpha"))),
    ],
)
def test_text_syntax_of_sums_elements_differentials_and_relations(
    source: str, expected: A.Expr
) -> None:
    got = fm.parse(source, "text", declared=_NEW_DECL)
    assert got == expected
    assert fm.text(got) == source  # the text round trip is the identity on the spelling
    latex = fm.latex(got)
    assert fm.parse(latex, "latex", declared=_NEW_DECL) == expected, latex


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("elem(W)", "elem: expected elem"),
        ("elem(W, i, j, k)", "elem: expected elem"),
        ("elem(W, 0)", "elem: expected indices"),
        ("elem(W, x)", "elem: expected indices"),
    ],
)
def test_elem_errors(source: str, needle: str) -> None:
    with pytest.raises(fm.FormulaError, match=needle):
        fm.parse(source, "text", declared=_NEW_DECL)
