"""``rnn-oracle convert``: the seed 000 example, exit codes 0, 1, 2, ad-hoc symbols."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn_oracle import cli
from rnn_oracle.notations import NOTATIONS

from .test_notations import SEED000_ANSWER, SEED000_ASKER


def test_seed000_example_prints_the_dlbook_form_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["convert", SEED000_ANSWER, "--from", "seed000", "--to", "dlbook",
                     "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    first, *rest = out.splitlines()
    printed = NOTATIONS["dlbook"].parse(first)
    expected = NOTATIONS["dlbook"].parse(
        r"\frac{\partial L^{(t)}}{\partial W} = (\mathrm{diag}(h^{(t)}) - "
        r"\mathrm{diag}(h^{(t)})^2) V^\top (\hat{y}^{(t)} - y^{(t)}) {h^{(t-1)}}^\top"
    )
    assert printed.expr == expected.expr
    assert rest[0].startswith("conversion: agree")
    assert 'local["W_hh"]' in rest[1] and "matches the oracle" in rest[1]


def test_a_failed_verification_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["convert", SEED000_ASKER, "--from", "seed000", "--to", "dlbook",
                     "--verify"])
    out = capsys.readouterr().out
    assert code == 1
    assert "DOES NOT MATCH" in out and "NEGATED" in out
    code = cli.main(["convert", SEED000_ASKER, "--from", "seed000", "--to", "dlbook",
                     "--verify", "--loss", "standard"])
    assert code == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    ("formula", "needle"),
    [
        (r"\frac{\partial h_1}{\partial w} = (e_1^T \otimes I_{n_h}) \text{ diag}( 1- h_1^2)",
         "(n_h × n_x·n_h)"),
        (r"\frac{\partial h_1}{\partial w} = (e_1 \otimes", "unexpected end"),
        (r"\frac{\partial h_1}{\partial w} = q_9", "unknown symbol 'q_9'"),
    ],
)
def test_parse_and_shape_errors_exit_two_with_a_caret(
    formula: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["convert", formula, "--from", "seed001", "--to", "dlbook"])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "^" in err.splitlines()[-1]


def test_adhoc_symbols_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["convert", "d(A @ x)/d(x) = A", "--symbols", "x: col[n], A: [m, n]",
                     "--from-layout", "numerator", "--layout", "denominator", "--verify"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "d(A @ x)/d(x) = A.T"
    assert out[1].startswith("conversion: agree")


def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["convert", "x", "--symbols", "x: col[n]", "--from", "seed000"]) == 2
    assert cli.main(["convert", "x"]) == 2
    assert cli.main(["convert", "x", "--from", "nowhere"]) == 2
    assert "error" in capsys.readouterr().err


def test_latex_and_vec_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["convert", "d(h_1)/d(w) = kron(e_1, eye(n_h)) @ diag(1 - h_1**2)",
                     "--from", "seed001", "--wrt", "vec(W_hx)", "--latex", "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(r"\frac{\partial h_1}{\partial \mathrm{vec}(W_{hx})}")


def test_entry_point_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rnn_oracle.cli", "convert", "(W @ h[t-1]).T", "--from",
         "dlbook", "--to", "seed000", "--text"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    # (W_hh h)ᵀ = hᵀ W_hhᵀ, and seed 000 writes hᵀ as h, W_hhᵀ as H.
    assert result.stdout.strip() == "h[t-1] @ H"


GRAD_SYMBOLS = "J: scalar, W: [m, n], P: [p, m], Q: [n, p]"


def test_gradient_prints_the_identified_derivative(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["convert", r"dJ = \mathrm{tr}(P\,dW\,Q)", "--symbols", GRAD_SYMBOLS,
                     "--gradient", "W", "--text", "--verify"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    # tr(P dW Q) = tr(Q P dW) = <(Q P)ᵀ, dW>: ∂J/∂W = Pᵀ Qᵀ (mixed layout, W's shape)
    assert out[0] == "d(J)/d(W) = P.T @ Q.T"
    assert out[1].startswith("identification: agree")
    assert out[2].startswith("conversion: agree")


def test_gradient_in_another_layout_and_vec_form(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["convert", "d(J) = tr(P @ d(W) @ Q)", "--symbols", GRAD_SYMBOLS,
                     "--gradient", "W", "--layout", "numerator", "--verify"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[0] == "d(J)/d(W) = Q @ P"
    code = cli.main(["convert", "d(J) = tr(P @ d(W) @ Q)", "--symbols", GRAD_SYMBOLS,
                     "--gradient", "W", "--wrt", "vec(W)", "--verify"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[0].startswith("d(J)/d(vec(W)) = ") and "identification: agree" in out[1]


def test_gradient_of_one_steps_differential_in_torch_names_the_missing_sum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main([
        "convert",
        r"dJ = \text{tr} \left(\frac{\partial J}{\partial \mathbf{z}_y^{(t)}} "
        r"d\mathbf{W}_{ya}^\top \mathbf{a}^{(t)} \right)",
        "--from", "seed003", "--to", "torch", "--gradient", "W_ya", "--verify",
    ])
    out = capsys.readouterr().out
    # Vardhan (2022) writes dJ for one step's term: the identified ∂J/∂W_ya is the step-t
    # contribution, while the left side ∂L/∂W names the total.
    assert code == 1, out
    assert out.startswith(r"\frac{\partial L}{\partial \mathrm{out}_{weight}} = ")
    assert "identification: agree" in out and "a Σₜ is missing" in out


@pytest.mark.parametrize(
    ("formula", "wrt", "needle"),
    [
        ("d(J) = tr(P @ d(W) @ Q)", "Q", "no term holds dQ"),
        ("J = tr(P @ W @ Q)", "W", "expected a differential statement"),
        ("d(J) = tr(P @ tanh(d(W)) @ Q)", "W", "dW appears inside another expression"),
        ("d(J) = tr(P @ d(W) @ Q)", "U", "expected a declared symbol"),
    ],
)
def test_gradient_errors_exit_two(
    formula: str, wrt: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["convert", formula, "--symbols", GRAD_SYMBOLS, "--gradient", wrt])
    err = capsys.readouterr().err
    assert code == 2 and needle in err, err


# -- exit codes, JSON, blocks -----------------------------------------------------------------

COOKBOOK = "x: col[n], a: col[n], B: [n, n], A: [m, n], X: [n, p], C: [p, m]"


@pytest.mark.parametrize(
    ("formula", "code", "needle"),
    [
        (r"\frac{\partial x^T B x}{\partial x} = (B + B^T)x", 0, "verified (true)"),
        (r"\frac{\partial x^T B x}{\partial x} = (B - B^T)x", 1, "sign slip"),
        (r"\frac{\partial a^T x}{\partial x} = -a", 1, "negated"),
        (r"\frac{\partial}{\partial X}\mathrm{Tr}(AXC) = A^T C^T", 0, "verified (true)"),
    ],
)
def test_identities_are_checked_for_truth_not_only_converted(
    formula: str, code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got = cli.main(["convert", formula, "--symbols", COOKBOOK, "--from-layout", "denominator",
                    "--verify"])
    out = capsys.readouterr().out
    assert got == code, out
    assert needle in out
    assert "conversion: agree" in out  # reported apart, whatever the truth


def test_json_on_success_and_on_error(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert cli.main(["convert", r"\frac{\partial a^T x}{\partial x} = a", "--symbols",
                     COOKBOOK, "--from-layout", "denominator", "--verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0 and report["statements"][0]["truth"]["verdict"] == "true"
    assert cli.main(["convert", "x", "--symbols", COOKBOOK, "--seed", "-1", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == 2 and "--seed" in error["error"]


@pytest.mark.parametrize("step", ["-5", "4", "1000000"])
def test_an_out_of_range_step_is_a_usage_error_naming_the_range(
    step: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["convert", r"\nabla_{o^{(t)}} L = \hat{y}^{(t)} - y^{(t)}", "--from",
                     "dlbook", "--verify", "--step", step])
    err = capsys.readouterr().err
    assert code == 2
    assert "0 <= t <= 3" in err and len(err.strip().splitlines()) == 1


def test_what_cannot_be_judged_exits_three(capsys: pytest.CaptureFixture[str]) -> None:
    recursion = (r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}(1 - {h^{(t+1)}}^2) "
                 r"\nabla_{h^{(t+1)}} L + V^\top \nabla_{o^{(t)}} L")
    assert cli.main(["convert", recursion, "--from", "dlbook", "--verify", "--step", "3"]) == 3
    assert "not judged" in capsys.readouterr().out
    assert cli.main(["convert", recursion, "--from", "dlbook", "--verify", "--step", "1"]) == 0


def test_a_whole_block_with_definitions_and_chains(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    block = (r"\begin{aligned} \delta^{(t)} &= \mathrm{diag}(1-(h^{(t)})^2)\nabla_{h^{(t)}}L \\ "
             r"\nabla_{W} L &= \sum_t \delta^{(t)} {h^{(t-1)}}^\top \\ "
             r"\nabla_{b} L &= \sum_t \delta^{(t)} = \sum_t \mathrm{diag}(1-(h^{(t)})^2)"
             r"\nabla_{h^{(t)}}L \end{aligned}")
    path = Path(str(tmp_path)) / "block.tex"
    path.write_text(block, encoding="utf-8")
    code = cli.main(["convert", "--file", str(path), "--from", "dlbook", "--to", "cs231n",
                     "--verify", "--text"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("definition of delta[t]")
    assert out.count("matches the oracle") == 6  # three statements, source and converted
    dropped = block.replace(r"\nabla_{W} L &= \sum_t", r"\nabla_{W} L &=")
    assert cli.main(["convert", dropped, "--from", "dlbook", "--verify"]) == 1
    assert "a Σₜ is missing" in capsys.readouterr().out


# -- the oracle's network: --head, --loss-sign, --reduction ------------------------------------

MSE_OUTPUT = r"\nabla_{o^{(t)}} L = o^{(t)} - y^{(t)}"  # ∂(½‖o − y‖²)/∂o
CE_OUTPUT = r"\nabla_{o^{(t)}} L = \mathrm{softmax}(o^{(t)}) - y^{(t)}"  # ∂(−yᵀ log ŷ)/∂o
OUTPUT_WEIGHT = r"\nabla_{V} L = \sum_t (\hat y^{(t)} - y^{(t)}) {h^{(t)}}^\top"


@pytest.mark.parametrize(
    ("formula", "head", "code"),
    [(MSE_OUTPUT, "linear_mse", 0), (MSE_OUTPUT, "softmax_ce", 1), (MSE_OUTPUT, None, 1),
     (CE_OUTPUT, "softmax_ce", 0), (CE_OUTPUT, None, 0), (CE_OUTPUT, "linear_mse", 1)],
)
def test_head_option_decides_the_verdict(
    formula: str, head: str | None, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["convert", formula, "--from", "dlbook", "--to", "cs231n", "--verify"]
    got = cli.main([*argv, *(["--head", head] if head else [])])
    out = capsys.readouterr().out
    assert got == code, out
    # The default is softmax cross-entropy, the network the oracle always checked.
    assert out.count(f"with a {head or 'softmax_ce'} loss") == 2  # source and converted


def test_reduction_mean_diagnoses_a_missing_one_over_t(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    argv = ["convert", OUTPUT_WEIGHT, "--from", "dlbook", "--verify"]
    assert cli.main(argv) == 0  # summed over time, as printed
    capsys.readouterr()
    assert cli.main([*argv, "--reduction", "mean", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    oracle = report["statements"][0]["oracle"]
    assert [o["diagnosis"] for o in oracle] == ["missing factor", "missing factor"]
    assert "times 1/T" in oracle[0]["message"]
    quarter = OUTPUT_WEIGHT.replace(r"\sum_t", r"\frac{1}{4} \sum_t")  # T = 4 steps
    assert cli.main(["convert", quarter, "--from", "dlbook", "--verify", "--reduction",
                     "mean"]) == 0, capsys.readouterr().out


def test_loss_sign_negated_flips_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    flipped = OUTPUT_WEIGHT.replace(r"(\hat y^{(t)} - y^{(t)})", r"(y^{(t)} - \hat y^{(t)})")
    assert cli.main(["convert", flipped, "--from", "dlbook", "--verify", "--loss-sign",
                     "negated"]) == 0
    capsys.readouterr()
    assert cli.main(["convert", flipped, "--from", "dlbook", "--verify"]) == 1
    assert "NEGATED" in capsys.readouterr().out
    assert cli.main(["convert", OUTPUT_WEIGHT, "--from", "dlbook", "--verify", "--loss-sign",
                     "negated"]) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--head", "none"), ("--head", "mse"), ("--loss-sign", "flipped"),
     ("--reduction", "avg"), ("--reduction", "")],
)
def test_a_bad_network_option_exits_two_naming_it(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["convert", CE_OUTPUT, "--from", "dlbook", "--verify", option, value])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and f"argument {option}: invalid choice" in err


@pytest.mark.parametrize("option", ["--head", "--loss-sign", "--reduction", "--cell"])
def test_network_options_with_symbols_are_a_usage_error(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    value = {"--head": "linear_mse", "--loss-sign": "negated", "--reduction": "mean",
             "--cell": "relu"}[option]
    code = cli.main(["convert", "d(a.T @ x)/d(x) = a", "--symbols", "x: col[n], a: col[n]",
                     "--from-layout", "denominator", "--verify", option, value])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{option}: the oracle's network is for RNN notations" in err


def test_help_names_the_network_defaults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rnn_oracle.cli", "convert", "--help"],
        capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "400"},
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for option, default in (("--head", "softmax_ce"), ("--loss-sign", "standard"),
                            ("--reduction", "sum")):
        section = text.split(f"{option} {{")[-1]
        assert f"(default: {default})" in section.split(" --")[0], option


# -- a per-step gradient converted with --layout ---------------------------------------------------

PER_STEP = r"\nabla^{(t)}_{W} L = \mathrm{diag}(1-(h^{(t)})^2)(\nabla_{h^{(t)}}L){h^{(t-1)}}^\top"


@pytest.mark.parametrize("layout", ["numerator", "denominator", "mixed"])
@pytest.mark.parametrize("syntax", ["--text", "--latex"])
def test_a_per_step_gradient_converted_with_a_layout_prints_its_step(
    layout: str, syntax: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["convert", PER_STEP, "--from", "dlbook", "--to", "torch", "--layout",
                     layout, syntax, "--verify"])
    out = capsys.readouterr().out
    assert code == 0, out
    first = out.splitlines()[0]
    if syntax == "--text":
        assert first.startswith("d(L)/d(weight_hh_l0)|t = "), first
    else:
        assert first.startswith(r"\frac{\partial L}{\partial \mathrm{weight}_{hh\_l0}}"
                                r"\bigg|_{t} = "), first
    # Both the source and the printed form are held to step 2's contribution, not the total.
    assert out.count('per_step["W_hh"][2]') == 2 and "matches the oracle" in out
    printed = NOTATIONS["torch"].parse(first, layout=layout)
    assert printed.lhs.at == "t"  # type: ignore[union-attr]
