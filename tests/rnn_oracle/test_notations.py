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
