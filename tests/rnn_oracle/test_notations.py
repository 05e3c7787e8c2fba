"""RNN notations: derived from PRESETS; every seed formula to every notation; the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import formulas as fm
from rnn_oracle import PRESETS, OracleError, RNNSpec, make_case
from rnn_oracle.errors import NotJudgedError
from rnn_oracle.notations import CANONICAL, NOTATIONS, check_against_oracle, get_notation
from rnn_oracle.params import ALIASES

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

# (notation, formula as the seed or book writes it); each holds against the oracle.
SEED_FORMULAS = [
    ("seed000", SEED000_ANSWER),
    ("seed001", r"\frac{\partial h_1}{\partial w} = (e_1 \otimes I_{n_h})\text{diag}( 1- h_1^2)"),
    ("dlbook", r"\frac{\partial h^{(t+1)}}{\partial h^{(t)}} = \mathrm{diag}(1 - {h^{(t+1)}}^2) W"),
    ("dlbook", r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}(1 - {h^{(t+1)}}^2) \nabla_{h^{(t+1)}} L"
               r" + V^\top \nabla_{o^{(t)}} L"),
    ("dlbook", r"\nabla_{o^{(t)}} L = \hat{y}^{(t)} - y^{(t)}"),
    ("seed003", r"\nabla_{\mathbf{W}_{aa}}^{(t)} J = \mathbf{a}^{(t-1)} \frac{\partial J}"
                r"{\partial \mathbf{z}_a^{(t)}}"),
    ("seed003", r"\nabla_{\mathbf{b}_y}^{(t)} J = \left(\frac{\partial J}{\partial "
                r"\mathbf{z}_y^{(t)}} \right)^\top"),
    ("seed003", r"\nabla^{(t)}_{\mathbf{W}_{ya}} J = \mathbf{a}^{(t)} \frac{\partial J}"
                r"{\partial \mathbf{z}_y^{(t)}}"),
    ("seed003", r"\frac{\partial J}{\partial \mathbf{z}_a^{(t)}} = \frac{\partial J}{\partial "
                r"\mathbf{a}^{(t)}} \circ (\mathbf{1}_{(n_a,1)} - "
                r"\tanh^2(\mathbf{z}_a^{(t)}))^\top"),
]

# What a notation cannot write: seed 001 has no output layer; seed 000's J is the loss of
# one step (its answer drops the (t)), so it has no symbol for the total loss.
CANNOT_WRITE = {
    "stats_se_565719": {"y[t]", "yhat[t]", "o[t]", "W_hy", "b_y", "L", "L[t]"},
    "cs224n": {"L"},
}


def test_every_preset_is_a_notation_with_its_vectors() -> None:
    assert set(NOTATIONS) == {"canonical", *PRESETS, *ALIASES}
    for alias, name in ALIASES.items():
        assert NOTATIONS[alias] is NOTATIONS[name] and NOTATIONS[alias].name == name
    assert NOTATIONS["seed000"].symbols["h[t]"].orientation == "row"
    assert NOTATIONS["dlbook"].symbols["h[t]"].orientation == "column"
    assert NOTATIONS["seed000"].symbols["I"].role == "matrix"  # the input matrix, not I


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_meanings_agree_with_the_param_convention(name: str) -> None:
    conv = PRESETS[name]
    # seed 001 has no bias and no output layer: give it a network it can express.
    spec = RNNSpec(n_x=3, n_h=4, n_y=5, head="none" if conv.absent else "softmax_ce")
    params = {k: (np.zeros_like(v) if k in conv.absent else v)
              for k, v in make_case(spec, seq_len=1).params.items()}
    user = conv.from_canonical(params, spec)  # the convention's own arrays, computed apart
    notation = NOTATIONS[name]
    canonical = {k: (v[:, None] if v.ndim == 1 else v) for k, v in params.items()}
    sizes = {"n_x": 3, "n_h": 4, "n_y": 5}
    for user_name, value in user.items():
        symbol = next(s for s in notation.symbols.values()
                      if s.description.startswith(f"{user_name} ↔"))
        got = fm.evaluate(fm.check(symbol.means, CANONICAL.symbols), canonical, sizes=sizes)
        if conv.duplicate_groups() and not np.any(value):
            continue  # torch's second bias is zero in from_canonical
        np.testing.assert_array_equal(np.asarray(got).reshape(value.shape), value)


@pytest.mark.parametrize(("source", "text"), SEED_FORMULAS)
def test_seed_formula_holds_against_the_oracle(source: str, text: str) -> None:
    result = check_against_oracle(NOTATIONS[source].parse(text))
    assert result.passed, result.message


@pytest.mark.parametrize(("source", "text"), SEED_FORMULAS)
@pytest.mark.parametrize("target", [n for n in NOTATIONS if n not in ALIASES])
def test_seed_formula_in_every_notation(source: str, text: str, target: str) -> None:
    formula = NOTATIONS[source].parse(text)
    try:
        converted = formula.convert(NOTATIONS[target])
    except fm.FormulaError as exc:
        assert any(f"quantity '{q}'" in str(exc) for q in CANNOT_WRITE.get(target, ())), exc
        return
    assert fm.verify(formula, converted).passed
    cell = "sigmoid" if source == "seed000" else "tanh"
    result = check_against_oracle(converted, cell=cell)
    assert result.passed, result.message
    for layout in fm.LAYOUTS:
        other = formula.convert(NOTATIONS[target], layout=layout)
        assert fm.verify(formula, other).passed
        assert fm.verify(other, formula.convert(NOTATIONS[source])).passed


def test_seed000_answer_becomes_the_references_dlbook_form() -> None:
    converted = NOTATIONS["seed000"].parse(SEED000_ANSWER).convert(NOTATIONS["dlbook"])
    expected = NOTATIONS["dlbook"].parse(
        "d(L[t])/d(W) = (diag(h[t]) - diag(h[t])**2) @ V.T @ (yhat[t] - y[t]) @ h[t-1].T"
    )
    assert converted.expr == expected.expr


def test_seed000_asker_has_the_opposite_loss_sign() -> None:
    asker = NOTATIONS["seed000"].parse(SEED000_ASKER)
    result = check_against_oracle(asker)
    assert not result.passed and "NEGATED" in result.message
    standard = get_notation("seed000", literal_loss=False).parse(SEED000_ASKER)
    assert check_against_oracle(standard).passed


def test_wrong_formulas_fail() -> None:
    dlbook = NOTATIONS["dlbook"]
    # seed 002's answer lost the parentheses: 1 − h² w instead of (1 − h²) w.
    lost = dlbook.parse(r"\frac{\partial h^{(t+1)}}{\partial h^{(t)}} = 1 - "
                        r"\mathrm{diag}({h^{(t+1)}}^2) W")
    assert not check_against_oracle(lost).passed
    no_diag = dlbook.parse(r"\nabla_{h^{(t)}} L = W^\top \nabla_{h^{(t+1)}} L + V^\top "
                           r"\nabla_{o^{(t)}} L")
    assert not check_against_oracle(no_diag).passed
    with pytest.raises(fm.FormulaError, match="inner sizes differ"):
        NOTATIONS["seed001"].parse(
            r"\frac{\partial h_1}{\partial w} = (e_1^T \otimes I_{n_h}) \text{ diag}( 1- h_1^2)"
        )


def test_oracle_refuses_what_it_cannot_check() -> None:
    seed001 = NOTATIONS["seed001"]
    with pytest.raises(OracleError, match="compound"):
        check_against_oracle(seed001.parse(r"\frac{\partial f}{\partial w} = e_1^T \otimes "
                                           r"I_{n_h}", layout="numerator"))
    with pytest.raises(NotJudgedError, match="derivative or a quantity"):
        check_against_oracle(NOTATIONS["dlbook"].parse("2 = 2"))
    # a quantity of the network on the left is compared with the case's value of it
    assert check_against_oracle(NOTATIONS["dlbook"].parse("h[t] = tanh(a[t])")).passed
    assert not check_against_oracle(NOTATIONS["dlbook"].parse("h[t] = sigmoid(a[t])")).passed
    with pytest.raises(OracleError, match="unknown name"):
        get_notation("nope")


# -- the quantity the left side names --------------------------------------------------------

DROPPED_SUM = r"\nabla_{W} L = diag(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){h^{(t-1)}}^\top"


def test_a_total_gradient_with_a_per_step_right_side_names_the_missing_sum() -> None:
    result = check_against_oracle(NOTATIONS["dlbook"].parse(DROPPED_SUM))
    assert not result.passed
    assert 'grads["W_hh"]' in result.quantity
    assert "contribution of step 2" in result.message and "a Σₜ is missing" in result.message
    # Vardhan (2022) writes ∂J/∂W_ya for the step-t term "for any particular time-step t":
    # as printed, the left side names the total.
    printed = NOTATIONS["seed003"].parse(
        r"\frac{\partial J}{\partial \mathbf{W}_{ya}} = \left(\frac{\partial J}{\partial "
        r"\mathbf{z}_y^{(t)}} \right)^\top (\mathbf{a}^{(t)})^\top")
    assert "a Σₜ is missing" in check_against_oracle(printed).message


@pytest.mark.parametrize("param", ["W", "U", "b", "V", "c"])
def test_the_books_full_gradient_time_sums_hold(param: str) -> None:
    # DL book eqs. 10.22-10.28 (W, U, b through a^{(t)}; V, c through o^{(t)}).
    rhs = {
        "W": r"\sum_t \mathrm{diag}(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){h^{(t-1)}}^\top",
        "U": r"\sum_t \mathrm{diag}(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){x^{(t)}}^\top",
        "b": r"\sum_t \mathrm{diag}(1-(h^{(t)})^2)\nabla_{h^{(t)}}L",
        "V": r"\sum_t (\nabla_{o^{(t)}}L) {h^{(t)}}^\top",
        "c": r"\sum_t \nabla_{o^{(t)}}L",
    }[param]
    result = check_against_oracle(NOTATIONS["dlbook"].parse(rf"\nabla_{{{param}}} L = {rhs}"))
    assert result.passed, result.message
    wrong = NOTATIONS["dlbook"].parse(rf"\nabla_{{{param}}} L = 2 {rhs}")
    assert not check_against_oracle(wrong).passed


def test_every_step_including_the_last_and_input_and_loss_gradients() -> None:
    book = NOTATIONS["dlbook"]
    last = book.parse(r"\nabla_{h^{(\tau)}} L = V^\top \nabla_{o^{(\tau)}} L")
    assert check_against_oracle(last, t=3).passed
    assert not check_against_oracle(last, t=1).passed  # not the last step: a term is missing
    recursion = book.parse(r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}(1 - {h^{(t+1)}}^2) "
                           r"\nabla_{h^{(t+1)}} L + V^\top \nabla_{o^{(t)}} L")
    with pytest.raises(NotJudgedError, match="last step is t=3"):
        check_against_oracle(recursion, t=3)
    for t in (-1, 4):
        with pytest.raises(OracleError, match=r"0 <= t <= 3"):
            check_against_oracle(recursion, t=t)
    dx = book.parse(r"\nabla_{x^{(t)}} L = U^\top \mathrm{diag}(1-(h^{(t)})^2)\nabla_{h^{(t)}}L")
    assert check_against_oracle(dx, t=0).passed
    assert check_against_oracle(book.parse(r"\frac{\partial L}{\partial L^{(t)}} = 1")).passed
    forward = book.parse(r"a^{(t)} = b + W h^{(t-1)} + U x^{(t)}")
    assert check_against_oracle(forward).passed
    transposed = book.parse(r"a^{(t)} = b + W^\top h^{(t-1)} + U x^{(t)}")
    assert not check_against_oracle(transposed).passed


# -- the head, the loss sign and the reduction ---------------------------------------------------

BOOK = NOTATIONS["dlbook"]
# ∂(½‖o − y‖²)/∂o = o − y; ∂(−yᵀ log softmax(o))/∂o = softmax(o) − y for a one-hot y.
MSE_OUTPUT = r"\nabla_{o^{(t)}} L = o^{(t)} - y^{(t)}"
CE_OUTPUT = r"\nabla_{o^{(t)}} L = \mathrm{softmax}(o^{(t)}) - y^{(t)}"
# DL book eq. 10.24 with ∇_{o^{(t)}} L written out: Σ_t (ŷ − y) hᵀ, summed over time.
OUTPUT_WEIGHT = r"\nabla_{V} L = \sum_t (\hat y^{(t)} - y^{(t)}) {h^{(t)}}^\top"


@pytest.mark.parametrize(("formula", "true_under"), [(MSE_OUTPUT, "linear_mse"),
                                                    (CE_OUTPUT, "softmax_ce")])
def test_the_head_decides_what_is_true(formula: str, true_under: str) -> None:
    f = BOOK.parse(formula)
    for head in ("softmax_ce", "linear_mse"):
        result = check_against_oracle(f, head=head)
        assert result.passed == (head == true_under), (head, result.message)
        assert head in result.message
        # ∂L/∂o is cross-checked by complex step through the model's own head.
        assert "complex step of the model's head" in result.cross_check
        assert "DISAGREES" not in result.cross_check


def test_the_heads_quantities_are_the_models() -> None:
    # ŷ is softmax(o) for cross-entropy and o itself for MSE (the model's Trajectory.yhat).
    assert check_against_oracle(BOOK.parse(r"\hat y^{(t)} = o^{(t)}"), head="linear_mse").passed
    assert not check_against_oracle(BOOK.parse(r"\hat y^{(t)} = o^{(t)}")).passed
    softmax = BOOK.parse(r"\hat y^{(t)} = \mathrm{softmax}(o^{(t)})")
    assert check_against_oracle(softmax).passed
    # A step's loss: ½‖o − y‖² and −yᵀ log ŷ.
    mse = BOOK.parse(r"L^{(t)} = 0.5 (o^{(t)} - y^{(t)})^\top (o^{(t)} - y^{(t)})")
    assert check_against_oracle(mse, head="linear_mse").passed
    assert not check_against_oracle(mse).passed
    ce = BOOK.parse(r"L^{(t)} = -{y^{(t)}}^\top \log(\hat y^{(t)})")
    assert check_against_oracle(ce).passed
    # The full gradient of V under MSE: Σ_t (o − y) hᵀ.
    mse_v = BOOK.parse(OUTPUT_WEIGHT.replace(r"\hat y^{(t)}", "o^{(t)}"))
    assert check_against_oracle(mse_v, head="linear_mse").passed
    assert not check_against_oracle(mse_v).passed


def test_a_mean_over_time_needs_its_one_over_t() -> None:
    f = BOOK.parse(OUTPUT_WEIGHT)
    assert check_against_oracle(f).passed  # summed: as printed
    meaned = check_against_oracle(f, reduction="mean")
    assert not meaned.passed
    assert meaned.diagnosis == "missing factor"
    assert "times 1/T" in meaned.message and "averaged over time" in meaned.message
    # With the 1/T of T = 4 steps, written as a fraction or a decimal, it holds.
    for quarter in (r"\frac{1}{4}", "0.25"):
        scaled = BOOK.parse(OUTPUT_WEIGHT.replace(r"\sum_t", rf"{quarter} \sum_t"))
        assert check_against_oracle(scaled, reduction="mean").passed
        summed = check_against_oracle(scaled)
        assert not summed.passed and summed.diagnosis == "missing factor"
        assert "times T" in summed.message


def test_the_mean_divides_the_total_and_not_a_steps_own_loss() -> None:
    # L = (1/T) Σ_t L^{(t)}: ∂L/∂L^{(t)} = 1/T, and ∇_{o^{(t)}} L carries the 1/T ...
    dL = BOOK.parse(r"\frac{\partial L}{\partial L^{(t)}} = 1")
    result = check_against_oracle(dL, reduction="mean")
    assert not result.passed and result.diagnosis == "missing factor"
    assert check_against_oracle(BOOK.parse(r"\frac{\partial L}{\partial L^{(t)}} = 0.25"),
                                reduction="mean").passed
    output = BOOK.parse(r"\nabla_{o^{(t)}} L = \hat y^{(t)} - y^{(t)}")
    assert check_against_oracle(output, reduction="mean").diagnosis == "missing factor"
    assert check_against_oracle(
        BOOK.parse(r"\nabla_{o^{(t)}} L = 0.25 (\hat y^{(t)} - y^{(t)})"), reduction="mean").passed
    # ... while L^{(t)} is the step's own loss: its partials have no 1/T.
    own = BOOK.parse(r"\frac{\partial L^{(t)}}{\partial o^{(t)}} = \hat y^{(t)} - y^{(t)}")
    assert check_against_oracle(own, reduction="mean").passed
    local = BOOK.parse(r"\frac{\partial L^{(t)}}{\partial W} = \mathrm{diag}(1-(h^{(t)})^2) "
                       r"V^\top (\hat y^{(t)} - y^{(t)}) {h^{(t-1)}}^\top")
    for head, reduction in [("softmax_ce", "sum"), ("softmax_ce", "mean"),
                            ("linear_mse", "mean")]:
        assert check_against_oracle(local, head=head, reduction=reduction).passed
    total = BOOK.parse(r"L = 0.25 \sum_t L^{(t)}")
    assert check_against_oracle(total, reduction="mean").passed
    assert not check_against_oracle(total).passed


def test_a_negated_loss_flips_every_gradient() -> None:
    standard = BOOK.parse(OUTPUT_WEIGHT)
    flipped = BOOK.parse(OUTPUT_WEIGHT.replace(r"(\hat y^{(t)} - y^{(t)})",
                                               r"(y^{(t)} - \hat y^{(t)})"))
    assert check_against_oracle(flipped, loss_sign="negated").passed
    result = check_against_oracle(standard, loss_sign="negated")
    assert not result.passed and result.diagnosis == "negated"
    assert "negated softmax_ce" in result.message
    assert check_against_oracle(flipped).diagnosis == "negated"
    # All three at once: −(1/T) Σ_t (o − y) for the output bias c.
    bias = BOOK.parse(r"\nabla_{c} L = -0.25 \sum_t (o^{(t)} - y^{(t)})")
    assert check_against_oracle(bias, head="linear_mse", loss_sign="negated",
                                reduction="mean").passed
    assert not check_against_oracle(bias, head="linear_mse", reduction="mean").passed


@pytest.mark.parametrize(
    ("option", "value"),
    [("head", "none"), ("head", "mse"), ("loss_sign", "flipped"), ("reduction", "avg"),
     ("cell", "gelu")],
)
def test_a_bad_network_option_is_named(option: str, value: str) -> None:
    with pytest.raises(OracleError, match=rf"check_against_oracle\.{option}: expected one of"):
        check_against_oracle(BOOK.parse(CE_OUTPUT), **{option: value})  # type: ignore[arg-type]


# -- a per-step gradient as a ∂ with the step's bar ----------------------------------------------

CONTRIBUTION = r"\mathrm{diag}(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){h^{(t-1)}}^\top"


def test_a_bar_or_a_step_copy_on_the_total_loss_names_the_contribution() -> None:
    # ∂L/∂W|_t and the book's ∂L/∂W^{(t)}: the derivative by step t's copy of W, which is
    # seed 003's ∇^{(t)}_W L (DL book eq. 10.26 before its Σ_t).
    for lhs in (r"\nabla^{(t)}_{W} L", r"\frac{\partial L}{\partial W}\bigg|_t",
                r"\frac{\partial L}{\partial W^{(t)}}"):
        f = BOOK.parse(rf"{lhs} = {CONTRIBUTION}", layout="mixed")
        result = check_against_oracle(f)
        assert result.passed, (lhs, result.message)
        assert 'per_step["W_hh"][2]' in result.quantity
    total = check_against_oracle(BOOK.parse(rf"\frac{{\partial L}}{{\partial W}} = {CONTRIBUTION}",
                                            layout="mixed"))
    assert not total.passed and total.diagnosis == "missing Σ"


PER_STEP_FORMULAS = [
    ("dlbook", r"\nabla^{(t)}_{W} L = " + CONTRIBUTION),
    ("dlbook", r"\nabla^{(t)}_{U} L = \mathrm{diag}(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L)"
               r"{x^{(t)}}^\top"),
    ("dlbook", r"\nabla^{(t)}_{b} L = \mathrm{diag}(1-(h^{(t)})^2)\nabla_{h^{(t)}}L"),
    ("dlbook", r"\nabla^{(t)}_{V} L = (\nabla_{o^{(t)}} L) {h^{(t)}}^\top"),
    ("dlbook", r"\nabla^{(t)}_{c} L = \hat y^{(t)} - y^{(t)}"),
    ("seed003", r"\nabla_{\mathbf{W}_{aa}}^{(t)} J = \mathbf{a}^{(t-1)} \frac{\partial J}"
                r"{\partial \mathbf{z}_a^{(t)}}"),
]


@pytest.mark.parametrize(("source", "text"), PER_STEP_FORMULAS)
@pytest.mark.parametrize("target", ["canonical", "dlbook", "torch", "cs231n"])
@pytest.mark.parametrize("layout", ["numerator", "denominator"])
def test_a_per_step_gradient_converted_with_a_layout_is_still_the_contribution(
    source: str, text: str, target: str, layout: str
) -> None:
    formula = NOTATIONS[source].parse(text)
    assert check_against_oracle(formula).passed
    converted = formula.convert(NOTATIONS[target], layout=layout)
    for syntax in ("text", "latex"):
        shown = converted.render(syntax)
        lhs = shown.split(" = ")[0]
        assert lhs.endswith("|t" if syntax == "text" else r"\bigg|_{t}"), shown
        back = NOTATIONS[target].parse(shown, layout=layout, syntax=syntax)
        assert back.expr == converted.expr
        result = check_against_oracle(back)
        assert result.passed and "per_step[" in result.quantity, result.message
