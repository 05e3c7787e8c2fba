"""A corpus of formulas as outside sources print them: parsed as printed, checked for truth.

Each entry records its source. ``symbols`` entries are identities in their own symbols
(checked by :func:`~conventions.formulas.check_truth`); ``dlbook``/``cs224n``/... entries
are RNN statements (checked against the oracle). ``True`` entries must hold, ``False``
entries are wrong variants that must fail (with the named cause when one is given).
"""

from __future__ import annotations

import pytest

from conventions import formulas as fm
from rnn_oracle.notations import NOTATIONS, check_against_oracle

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

BOOK = "Goodfellow, Bengio, Courville, Deep Learning §10.2.2"
COOK = "Petersen & Pedersen, The Matrix Cookbook (2012)"
WIKI = "Wikipedia, Matrix calculus (identities tables)"
MSE = "math.SE 2512465 (CS224n RNN LM)"
SSE = "stats.SE 565719"
VARDHAN = "H. Vardhan, vanilla RNN back-propagation derivation (2022)"
DLAI = "deeplearning.ai Sequence Models, rnn_cell_backward"
MSE_BPTT = "math.SE 4637392"
S234 = "stats.SE 234024"

DECLS = ("x: col[n], a: col[n], b: col[n], y: col[m], B: [n, n], A: [m, n], X: [n, p], "
         "C: [p, m], D: [p, q], E: [m, r], F: [n, s], G: [q, r], M: [n, n], u: col[p], "
         "z: col[m], W: [m, n]")
SYM = fm.Notation("cookbook", fm.parse_declarations(DECLS))

# (source, notation, layout, formula as printed, true?, cause of a false one, assumptions)
CORPUS: list[tuple[str, str, str, str, bool, str, dict[str, str]]] = [
    # -- the Deep Learning book, eqs. 10.8-10.28 (column vectors, ∇ of the total loss) --
    (BOOK, "dlbook", "mixed", r"a^{(t)} = b + W h^{(t-1)} + U x^{(t)}", True, "", {}),
    (BOOK, "dlbook", "mixed", r"h^{(t)} = \tanh(a^{(t)})", True, "", {}),
    (BOOK, "dlbook", "mixed", r"o^{(t)} = c + V h^{(t)}", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\hat{y}^{(t)} = \mathrm{softmax}(o^{(t)})", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\frac{\partial L}{\partial L^{(t)}} = 1", True, "", {}),
    (BOOK, "dlbook", "mixed", r"(\nabla_{o^{(t)}} L) = \hat{y}^{(t)} - y^{(t)}", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{h^{(\tau)}} L = V^\top \nabla_{o^{(\tau)}} L", True,
     "", {"t": "3"}),
    (BOOK, "dlbook", "mixed",
     r"\nabla_{h^{(t)}} L = \left(\frac{\partial h^{(t+1)}}{\partial h^{(t)}}\right)^\top "
     r"(\nabla_{h^{(t+1)}} L) + \left(\frac{\partial o^{(t)}}{\partial h^{(t)}}\right)^\top "
     r"(\nabla_{o^{(t)}} L)", True, "", {}),
    (BOOK, "dlbook", "mixed",
     r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}\left(1 - \left(h^{(t+1)}\right)^2\right) "
     r"(\nabla_{h^{(t+1)}} L) + V^\top (\nabla_{o^{(t)}} L)", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{c} L = \sum_t \left(\frac{\partial o^{(t)}}{\partial c}"
     r"\right)^\top \nabla_{o^{(t)}} L = \sum_t \nabla_{o^{(t)}} L", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{b} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}"
     r"\right)^2\right) \nabla_{h^{(t)}} L", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{V} L = \sum_t (\nabla_{o^{(t)}} L) h^{(t)\top}", True,
     "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{W} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}"
     r"\right)^2\right) (\nabla_{h^{(t)}} L) h^{(t-1)\top}", True, "", {}),
    (BOOK, "dlbook", "mixed", r"\nabla_{U} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}"
     r"\right)^2\right) (\nabla_{h^{(t)}} L) x^{(t)\top}", True, "", {}),
    (BOOK + " (Σ dropped)", "dlbook", "mixed",
     r"\nabla_{W} L = diag(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){h^{(t-1)}}^\top", False,
     "a Σₜ is missing", {}),
    (BOOK + " (transpose dropped)", "dlbook", "mixed", r"\nabla_{V} L = \sum_t "
     r"(\nabla_{o^{(t)}} L) h^{(t)}", False, "shape", {}),
    (BOOK + " (sign slip)", "dlbook", "mixed", r"(\nabla_{o^{(t)}} L) = y^{(t)} - "
     r"\hat{y}^{(t)}", False, "NEGATED", {}),
    (BOOK + " (W for Wᵀ)", "dlbook", "mixed",
     r"\nabla_{h^{(t)}} L = W \mathrm{diag}\left(1 - \left(h^{(t+1)}\right)^2\right) "
     r"(\nabla_{h^{(t+1)}} L) + V^\top (\nabla_{o^{(t)}} L)", False, "", {}),
    ("blog copy of " + BOOK, "dlbook", "mixed",
     r"\nabla_{\mathbf{h}_t} L = \mathbf{W}^\top \mathrm{diag}(1 - \mathbf{h}_{t+1}^2) "
     r"\nabla_{\mathbf{h}_{t+1}} L + \mathbf{V}^\top \nabla_{\mathbf{o}_t} L", True, "", {}),
    ("blog copy of " + BOOK, "dlbook", "mixed",
     r"\frac{\partial \mathbf{h_{t+1}}}{\partial \mathbf{h_t}} = \mathrm{diag}(1 - "
     r"\mathbf{h_{t+1}}^2) \mathbf{W}", True, "", {}),
    ("blog copy of " + BOOK, "dlbook", "mixed",
     r"\nabla_{W} L = \sum\limits_{t} \mathrm{diag}(1 - (h^{(t)})^2)(\nabla_{h^{(t)}} L)"
     r"{h^{(t-1)}}^{\top}", True, "", {}),
    ("blog copy of " + BOOK, "dlbook", "mixed",
     r"\triangledown_{o^{(t)}} L = \hat y^{(t)} - y^{(t)}", True, "", {}),
    ("math.SE 3390461 quoting " + BOOK, "dlbook", "mixed",
     r"\nabla_{W} L = \sum_{t} diag(1 - (h^{(t)})^2)(\nabla_{h^{(t)}} L) {h^{(t-1)}}^T", True,
     "", {}),
    # -- CS224n RNN LM (row vectors, J = +Σ y log ŷ as the asker writes it) --
    (MSE, "cs224n", "mixed", r"h^{(t)} = \mathrm{sigmoid}(h^{(t-1)} H + e^{(t)} I + b_1)",
     True, "", {}),
    (MSE, "cs224n", "mixed", r"\hat y^{(t)} = \mathrm{softmax}(h^{(t)} U + b_2)", True, "", {}),
    (MSE + ", answer", "cs224n", "mixed",
     r"\frac{\partial J}{\partial H} = {h^{(t-1)}}^T\,\Big(y^{(t)}-{\hat y^{(t)}}\Big)\,U^T\,"
     r"\Big({\rm Diag}(h^{(t)})-{\rm Diag}(h^{(t)})^2\Big)", True, "", {}),
    (MSE + ", asker (sign)", "cs224n", "mixed",
     r"\frac{\partial J^{(t)}}{\partial H}\bigg|_t = (h^{(t - 1)})^T (\hat{y}^{(t)} - y^{(t)})"
     r" U^T diag\{h^{(t)} \circ (1 - h^{(t)})\}", False, "NEGATED", {}),
    (MSE + ", with a prime", "cs224n", "mixed",
     r"\frac{\partial J}{\partial H} = {h^{(t-1)}}^T (y^{(t)}-\hat y^{(t)}) U^T "
     r"\mathrm{diag}(\sigma'(z_1^{(t)}))", True, "", {}),
    (MSE, "cs224n", "mixed", r"\frac{\partial J}{\partial b_2} = y^{(t)} - \hat y^{(t)}", True,
     "", {}),
    # -- stats.SE 565719 (column vectors, step 1, w = vec(W_hxᵀ)) --
    (SSE, "stats_se_565719", "denominator",
     r"\frac{\partial h_1}{\partial w} = (e_1 \otimes I_{n_h}) \text{ diag}( 1- h_1^2)", True,
     "", {}),
    (SSE + ", the asker", "stats_se_565719", "denominator",
     r"\frac{\partial h_1}{\partial w} = (e_1^T \otimes I_{n_h}) \text{ diag}( 1- h_1^2)",
     False, "shape", {}),
    # -- Vardhan 2022 / deeplearning.ai --
    (VARDHAN, "vardhan2022", "numerator", r"\mathbf{z}_a^{(t)} = \mathbf{W}_{aa}^\top "
     r"\mathbf{a}^{(t-1)} + \mathbf{W}_{ax}^\top \mathbf{x}^{(t)} + \mathbf{b}_a", True, "", {}),
    (VARDHAN, "vardhan2022", "numerator", r"\nabla_{\mathbf{W}_{aa}}^{(t)} J = "
     r"\mathbf{a}^{(t-1)} \frac{\partial J}{\partial \mathbf{z}_a^{(t)}}", True, "", {}),
    (VARDHAN, "vardhan2022", "numerator", r"\frac{\partial J}{\partial \mathbf{z}_a^{(t)}} = "
     r"\frac{\partial J}{\partial \mathbf{a}^{(t)}} \circ (\mathbf{1}_{(n_a,1)} - "
     r"\tanh^2(\mathbf{z}_a^{(t)}))^\top", True, "", {}),
    (VARDHAN + " (as printed)", "vardhan2022", "numerator",
     r"\frac{\partial J}{\partial \mathbf{W}_{ya}} = \left(\frac{\partial J}{\partial "
     r"\mathbf{z}_y^{(t)}} \right)^\top (\mathbf{a}^{(t)})^\top", False, "a Σₜ is missing",
     {}),
    (DLAI, "deeplearning_ai", "mixed", r"a^{\langle t \rangle} = \tanh(W_{aa} "
     r"a^{\langle t-1 \rangle} + W_{ax} x^{\langle t \rangle} + b_a)", True, "", {}),
    (DLAI, "deeplearning_ai", "mixed", r"\hat{y}^{\langle t \rangle} = \mathrm{softmax}"
     r"(W_{ya} a^{\langle t \rangle} + b_y)", True, "", {}),
    (DLAI, "deeplearning_ai", "mixed", r"\frac{\partial a^{\langle t \rangle}}{\partial "
     r"a^{\langle t-1 \rangle}} = \mathrm{diag}(1 - \tanh^2(z_a^{\langle t \rangle})) W_{aa}",
     True, "", {}),
    (S234 + " (row vectors, the answer)", "cs231n", "mixed", r"\frac{\partial h_t}{\partial "
     r"h_{t-1}} = \mathrm{diag}(1-\tanh^2(h_{t-1}Wh + x_t Wx + b)) Wh^T", False, "shape", {}),
    # -- the Matrix Cookbook, §2.4 and §10.2 (denominator layout as the book writes) --
    (COOK + " (69)", "symbols", "denominator", r"\frac{\partial x^T a}{\partial x} = a", True,
     "", {}),
    (COOK + " (69)", "symbols", "denominator", r"\frac{\partial a^T x}{\partial x} = a", True,
     "", {}),
    (COOK + " (81)", "symbols", "denominator",
     r"\frac{\partial x^T B x}{\partial x} = (B + B^T)x", True, "", {}),
    (COOK + " (81), wrong", "symbols", "denominator",
     r"\frac{\partial x^T B x}{\partial x} = (B - B^T)x", False, "sign slip", {}),
    (COOK + " (81), symmetric", "symbols", "denominator",
     r"\frac{\partial x^T B x}{\partial x} = 2Bx", True, "", {"B": "symmetric"}),
    (COOK + " (81), symmetric, factor lost", "symbols", "denominator",
     r"\frac{\partial x^T B x}{\partial x} = Bx", False, "missing factor", {"B": "symmetric"}),
    (COOK + " (100)", "symbols", "denominator",
     r"\frac{\partial}{\partial X}\mathrm{Tr}(AXC) = A^T C^T", True, "", {}),
    (COOK + " (100), transposed", "symbols", "denominator",
     r"\frac{\partial}{\partial X}\mathrm{Tr}(AXC) = C A", False, "shape", {}),
    (COOK + " (101), transposed", "symbols", "denominator",
     r"\frac{\partial \mathrm{Tr}(B M)}{\partial M} = B", False, "transposed", {}),
    (COOK + " (101)", "symbols", "denominator",
     r"\frac{\partial \mathrm{Tr}(B M)}{\partial M} = B^T", True, "", {}),
    (COOK + " (103)", "symbols", "denominator",
     r"\frac{\partial}{\partial X}\mathrm{Tr}(X^T M) = M", False, "shape", {}),
    (COOK + " (103)", "symbols", "denominator",
     r"\frac{\partial}{\partial M}\mathrm{Tr}(M) = I", True, "", {}),
    (COOK + " (108)", "symbols", "denominator",
     r"\frac{\partial}{\partial M} \mathrm{Tr}(M^2) = 2M^T", True, "", {}),
    (COOK + " (520)", "symbols", "mixed", r"\mathrm{vec}(AXC) = (C^T \otimes A)\mathrm{vec}(X)",
     True, "", {}),
    (COOK + " (520), wrong", "symbols", "mixed", r"\mathrm{vec}(AXC) = (C \otimes A^T)"
     r"\mathrm{vec}(X)", False, "shape", {}),
    (COOK + " (511)", "symbols", "mixed", r"(A \otimes D)(F \otimes G) = AF \otimes DG", True,
     "", {}),
    (COOK + " (508)", "symbols", "mixed", r"(A \otimes D)^T = A^T \otimes D^T", True, "", {}),
    (COOK + " (508), wrong", "symbols", "mixed", r"(A \otimes X)^T = X^T \otimes A^T", False,
     "", {}),
    (COOK + " (2.4.1)", "symbols", "denominator",
     r"\frac{\partial a^T X u}{\partial X} = a u^T", True, "", {}),
    (COOK + " (70)", "symbols", "denominator",
     r"\frac{\partial z^T W x}{\partial W} = z x^T", True, "", {}),
    (COOK + " (71), wrong", "symbols", "denominator",
     r"\frac{\partial z^T W x}{\partial W} = x z^T", False, "shape", {}),
    (COOK + " (129)", "symbols", "denominator",
     r"\frac{\partial}{\partial x} \lVert x - a \rVert^2", False, "parse", {}),
    (COOK + " (K_{mn})", "symbols", "mixed", r"\mathbf{K}_{mn} \mathrm{vec}(W) = "
     r"\mathrm{vec}(W^T)", True, "", {}),
    (COOK + " (orthogonal)", "symbols", "mixed", r"M^T M = I", True, "", {"M": "orthogonal"}),
    (COOK + " (orthogonal), not assumed", "symbols", "mixed", r"M^\top M = I", False, "",
     {}),
    # -- Wikipedia, matrix calculus tables (numerator layout rows) --
    (WIKI, "symbols", "numerator", r"\frac{\partial \mathbf{a}^\top \mathbf{x}}{\partial "
     r"\mathbf{x}} = \mathbf{a}^\top", True, "", {}),
    (WIKI, "symbols", "numerator", r"\frac{\partial \mathbf{A}\mathbf{x}}{\partial \mathbf{x}}"
     r" = \mathbf{A}", True, "", {}),
    (WIKI, "symbols", "denominator", r"\frac{\partial \mathbf{A}\mathbf{x}}{\partial "
     r"\mathbf{x}} = \mathbf{A}^\top", True, "", {}),
    (WIKI, "symbols", "numerator", r"\frac{\partial \mathbf{x}^\top \mathbf{B} \mathbf{x}}"
     r"{\partial \mathbf{x}} = \mathbf{x}^\top(\mathbf{B} + \mathbf{B}^\top)", True, "", {}),
    (WIKI + ", layout mixed up", "symbols", "numerator", r"\frac{\partial \mathbf{x}^\top "
     r"\mathbf{B} \mathbf{x}}{\partial \mathbf{x}} = (\mathbf{B} + \mathbf{B}^\top)\mathbf{x}",
     False, "shape", {}),
    (WIKI, "symbols", "numerator", r"\frac{\partial \mathbf{x}^\top \mathbf{x}}{\partial "
     r"\mathbf{x}} = 2\mathbf{x}^\top", True, "", {}),
    (WIKI, "symbols", "denominator", r"\frac{\partial \tanh(\mathbf{A}\mathbf{x})}{\partial "
     r"\mathbf{x}} = \mathbf{A}^\top \mathrm{diag}(\tanh'(\mathbf{A}\mathbf{x}))", True, "", {}),
    (WIKI + ", lost parentheses", "symbols", "numerator",
     r"\frac{\partial \tanh(\mathbf{B}\mathbf{x})}{\partial \mathbf{x}} = "
     r"\mathrm{diag}(\tanh'(\mathbf{B}\mathbf{x})) \mathbf{B}", True, "", {}),
    ("softmax Jacobian (CS224n gradient notes)", "symbols", "numerator",
     r"\frac{\partial \mathrm{softmax}(y)}{\partial y} = \mathrm{diag}(\mathrm{softmax}(y)) - "
     r"\mathrm{softmax}(y)\mathrm{softmax}(y)^T", True, "", {}),
    ("softmax Jacobian, sign slip", "symbols", "numerator",
     r"\frac{\partial \mathrm{softmax}(y)}{\partial y} = \mathrm{diag}(\mathrm{softmax}(y)) + "
     r"\mathrm{softmax}(y)\mathrm{softmax}(y)^T", False, "sign slip", {}),
    ("cross-entropy gradient (CS224n notes)", "symbols", "denominator",
     r"\frac{\partial}{\partial y} \left(-z^T \log(\mathrm{softmax}(y))\right) = "
     r"\mathrm{softmax}(y) - z", True, "", {"z": "one-hot"}),
    (MSE_BPTT, "symbols", "mixed", r"\prod_{j=\tau+1}^{t} M = M", False, "has no shape", {}),
]


def _notation(name: str) -> fm.Notation:
    return SYM if name == "symbols" else NOTATIONS[name]


def _parse(notation: str, layout: str, text: str) -> fm.Formula:
    return _notation(notation).parse(text, layout=layout)


def test_the_corpus_is_large_and_records_its_sources() -> None:
    assert len(CORPUS) >= 60
    assert all(entry[0] for entry in CORPUS)
    assert len({entry[3] for entry in CORPUS}) == len(CORPUS)


def test_at_least_90_percent_parse_exactly_as_printed() -> None:
    # Every entry counts, the wrong variants too: parsing is before shapes and truth.
    failed = []
    for source, notation, _, text, _, _, _ in CORPUS:
        try:
            fm.parse_block(text, declared=_notation(notation).symbols.keys())
        except fm.FormulaError as exc:
            failed.append(f"{source}: {text}: {exc.reason}")
    rate = 1 - len(failed) / len(CORPUS)
    print(f"parsed as printed: {len(CORPUS) - len(failed)}/{len(CORPUS)} = {rate:.1%}")
    assert rate >= 0.9, "\n".join(failed)
    assert len(failed) <= 1, "\n".join(failed)  # only the Cookbook's norm, (129)


def _judge(notation: str, layout: str, text: str, assume: dict[str, str]) -> tuple[str, str]:
    notes = []
    verdicts = []
    for statement in _notation(notation).read_block(text, layout=layout):
        if statement.defines is not None:
            continue
        f = statement.formula
        if notation == "symbols":
            truth = fm.check_truth(f, assume=assume, seed=1)
            verdicts.append(truth.verdict)
            notes.append(truth.message)
        else:
            step = int(assume["t"]) if "t" in assume else None
            result = check_against_oracle(f, t=step)
            verdicts.append("true" if result.passed else "false")
            notes.append(result.message)
    verdict = "false" if "false" in verdicts else "not judged" if "not judged" in verdicts \
        else "true"
    return verdict, " | ".join(notes)


TRUE = [e for e in CORPUS if e[4]]
FALSE = [e for e in CORPUS if not e[4]]


@pytest.mark.parametrize("entry", TRUE, ids=[e[0] for e in TRUE])
def test_every_true_formula_is_verified(entry: tuple) -> None:  # type: ignore[type-arg]
    _, notation, layout, text, _, _, assume = entry
    verdict, notes = _judge(notation, layout, text, assume)
    assert verdict == "true", notes


@pytest.mark.parametrize("entry", FALSE, ids=[e[0] for e in FALSE])
def test_wrong_variants_are_refused_or_fail_with_the_cause(entry: tuple) -> None:  # type: ignore[type-arg]
    _, notation, layout, text, _, cause, assume = entry
    if cause in ("shape", "parse"):
        with pytest.raises(fm.FormulaError):
            _parse(notation, layout, text)
        return
    if cause == "has no shape":  # parses, then refused: nothing to evaluate
        fm.parse(text)
        with pytest.raises(fm.FormulaError, match=cause):
            _parse(notation, layout, text)
        return
    verdict, notes = _judge(notation, layout, text, assume)
    assert verdict == "false", notes
    assert cause in notes, notes
