"""``rnn-oracle check FILE.py:NAME``: exit 0 right, 1 wrong, 2 usage/import/protocol (one
line, no traceback), 3 nothing judged."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_oracle import check_cli

ROOT = Path(__file__).resolve().parents[2]

CORPUS = Path(__file__).resolve().parent / "oracle" / "corpus"

USER_FILE = '''
from karpathy import make

good = make()
no_recurrence = make("no_dhnext")
not_callable = 3

def raises(params, inputs, targets, h0):
    raise RuntimeError("boom")
'''


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rnn-oracle")
    check_cli.add_parser(parser.add_subparsers(dest="command"))
    return check_cli.run(parser.parse_args(["check", *argv]))


def _cli(*args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m rnn_oracle check ARGS`` in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (full_env.get("PYTHONPATH", ""), str(ROOT)) if p
    )
    return subprocess.run([sys.executable, "-m", "rnn_oracle", "check", *args],
                          capture_output=True, text=True, check=False, env=full_env,
                          cwd=cwd, timeout=600)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rnn-oracle check: error: "), lines[0]
    return lines[0]


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    (tmp_path / "karpathy.py").write_text((CORPUS / "karpathy.py").read_text())
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE)
    return path


def test_pass_exits_0(user_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(f"{user_file}:good", "--convention", "karpathy") == 0
    assert "PASS" in capsys.readouterr().out


def test_wrong_gradient_exits_1_with_the_diagnosis(
    user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(f"{user_file}:no_recurrence", "--convention", "karpathy", "--cases", "2",
                "--seed", "3", "--dtype", "float32", "--json")
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["causes"] == {"Wxh": "local_only", "Whh": "local_only", "bh": "local_only"}
    assert [c["seed"] for c in data["cases"]] == [3, 4] and data["dtype"] == "float32"


def test_plot_is_written(user_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "err.png"
    assert _run(f"{user_file}:no_recurrence", "--convention", "karpathy", "--cases", "1",
                "--plot", str(out)) == 1
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_spec_options_reach_the_check(user_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(f"{user_file}:good", "--convention", "karpathy", "--n-h", "7", "--seq-len",
                "4", "--cases", "1", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spec"]["n_h"] == 7 and data["cases"][0]["seq_len"] == 4


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("missing.py:good", [], "no such file"),
        ("{file}", [], "expected FILE.py:NAME"),
        ("{file}:nothing", [], "has no 'nothing'"),
        ("{file}:not_callable", [], "expected a function"),
        ("{file}:raises", ["--convention", "karpathy"], "raised RuntimeError: boom"),
        ("{file}:good", ["--convention", "nope"], "unknown name 'nope'"),
        ("{file}:good", [], "needs one"),
        ("{file}:good", ["--convention", "{bad json"], "not a preset name nor valid JSON"),
    ],
)
def test_errors_exit_2_with_a_message(
    user_file: Path, capsys: pytest.CaptureFixture[str], target: str, extra: list[str],
    message: str,
) -> None:
    assert _run(target.format(file=user_file), *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-oracle check: error:") and message in err


def test_import_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_module_anywhere\n")
    assert _run(f"{bad}:f", "--convention", "karpathy") == 2
    assert "ModuleNotFoundError" in capsys.readouterr().err


def test_json_convention_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "general.py").write_text((CORPUS / "general.py").read_text())
    user = tmp_path / "layer.py"
    user.write_text(
        "import rnn_oracle as ro\nfrom general import make\n"
        "layer = make(ro.RNNSpec(n_x=3, n_h=5, n_y=4, head='none'), 'layer')\n"
    )
    mapping = json.dumps({"W": "W_hh", "U": "W_xh", "b": "b_h"})
    assert _run(f"{user}:layer", "--convention", mapping, "--mode", "layer",
                "--cell", "tanh") == 0
    assert "convention 'custom'" in capsys.readouterr().out
    # Your own convention does not say its nonlinearity: it is asked for, not assumed.
    assert _run(f"{user}:layer", "--convention", mapping, "--mode", "layer") == 2
    assert "--cell" in capsys.readouterr().err


TORCH_FILE = '''
import torch

torch.manual_seed(0)
gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
rnn = torch.nn.RNN(3, 4)


class TransposedRecurrentGradient(torch.nn.LSTM):
    """An LSTM whose backward hands back layer 1's reverse W_hh gradient transposed."""

    def forward(self, x, hx):
        w = self.weight_hh_l1_reverse
        w.register_hook(lambda g: g.reshape(4, 4, 4).transpose(1, 2).reshape(16, 4))
        return super().forward(x, hx)


lstm_with_a_slip = TransposedRecurrentGradient(3, 4, num_layers=2, bidirectional=True)
'''


def test_torch_network_modules_are_checked_by_the_network_oracle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "nets.py"
    path.write_text(TORCH_FILE)
    assert _run(f"{path}:gru", "--cases", "1", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and "weight_hh_l1_reverse" in {
        g["name"] for g in report["gradients"]
    }
    assert _run(f"{path}:lstm_with_a_slip", "--cases", "1", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = {g["name"]: g for g in report["gradients"] if not g["passed"]}
    assert list(failed) == ["weight_hh_l1_reverse"]
    assert failed["weight_hh_l1_reverse"]["diagnosis"]["cause"] == "transposed"
    # The module gives its own sizes: spec options are refused, naming the option.
    assert _run(f"{path}:gru", "--n-h", "3") == 2
    assert "--n-h" in capsys.readouterr().err
    # A one-layer nn.RNN is the smallest stack: the same path and torch's names.
    assert _run(f"{path}:rnn", "--cases", "1", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {g["name"] for g in report["gradients"]} == {
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "inputs", "h0[0]"}
    assert _run(f"{path}:rnn", "--mode", "model") == 2
    assert "layer mode" in capsys.readouterr().err


def test_a_file_that_calls_sys_exit_at_import_is_an_error_naming_it(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import sys\n\ndef f(*args):\n    return 0\n\nsys.exit(0)\n")
    done = _cli(f"{script}:f", "--convention", "karpathy")
    assert done.returncode == 2, done.stdout + done.stderr
    line = _one_line_error(done)
    assert f"importing {str(script)!r} called sys.exit(0)" in line
    assert 'if __name__ == "__main__":' in line and done.stdout == ""


def test_a_target_that_calls_sys_exit_is_an_error_naming_it(user_file: Path) -> None:
    user_file.write_text(user_file.read_text() + "\nimport sys\n\n"
                         "def quits(params, inputs, targets, h0):\n    sys.exit(0)\n")
    done = _cli(f"{user_file}:quits", "--convention", "karpathy", "--cases", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    line = _one_line_error(done)
    assert "quits" in line and ("SystemExit" in line or "sys.exit" in line), line


def test_plot_to_an_unwritable_path_fails_before_running(user_file: Path, tmp_path: Path) -> None:
    # Running as root, permission bits do not stop a write: a missing folder does.
    (tmp_path / "folder.png").mkdir()
    for path, message in [
        (tmp_path / "no" / "such" / "dir" / "err.png", "no directory"),
        (tmp_path / "folder.png", "is a directory"),
        (tmp_path / "err.txt", "expected a file ending in"),
    ]:
        done = _cli(f"{user_file}:good", "--convention", "karpathy", "--plot", str(path))
        assert done.returncode == 2, done.stdout + done.stderr
        assert message in _one_line_error(done)
        assert done.stdout == ""  # nothing ran: no PASS printed before the error


def test_json_errors_are_json_objects(user_file: Path) -> None:
    done = _cli(f"{user_file}:nothing", "--convention", "karpathy", "--json")
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert error["exit_code"] == 2 and "has no 'nothing'" in error["error"]
    done = _cli(f"{user_file}:good", "--cases", "0", "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["exit_code"] == 2
    assert "argument --cases: expected an integer ≥ 1, got 0" in done.stderr


def test_a_file_needing_a_broken_framework_is_not_judged(tmp_path: Path) -> None:
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "torch").mkdir()
    (tmp_path / "fake" / "torch" / "__init__.py").write_text(
        "raise ImportError('libtorch_cpu.so: cannot open shared object file')\n"
    )
    user = tmp_path / "net.py"
    user.write_text("import torch\n\nrnn = torch.nn.RNN(3, 4)\n")
    done = _cli(f"{user}:rnn", env={"PYTHONPATH": str(tmp_path / "fake")})
    assert done.returncode == 3, done.stdout + done.stderr
    line = _one_line_error(done)
    assert "libtorch_cpu.so" in line and "(torch is missing or broken)" in line


def test_atol_rtol_are_used_and_recorded(
    user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(f"{user_file}:good", "--convention", "karpathy", "--cases", "1", "--atol",
                "1e-6", "--rtol", "1e-9", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overrides"] == {"atol": 1e-6, "rtol": 1e-9}
    assert {g["atol"] for g in data["gradients"]} == {1e-6}
    assert _run(f"{user_file}:good", "--convention", "karpathy", "--cases", "1", "--atol",
                "1e-6") == 0
    assert "atol = 1e-06 (given)" in capsys.readouterr().out
    for bad in ("-1", "0", "nan", "x"):
        assert subprocess.run(  # argparse refuses it: exit 2, naming the option
            [sys.executable, "-m", "rnn_oracle", "check", f"{user_file}:good", "--atol", bad],
            capture_output=True, text=True, cwd=ROOT, check=False,
        ).returncode == 2


def test_an_inconclusive_report_exits_3(
    user_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rnn_oracle.oracle import check

    real = check.check_gradients

    def undecided(*args: object, **kwargs: object) -> object:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        first = dataclasses.replace(report.gradients[0], verdict="inconclusive",
                                    inconclusive_reason="the bound exceeds the reference")
        return dataclasses.replace(report, passed=False,
                                   gradients=(first, *report.gradients[1:]))

    monkeypatch.setattr(check, "check_gradients", undecided)
    assert _run(f"{user_file}:good", "--convention", "karpathy", "--cases", "1") == 3
    out = capsys.readouterr().out
    assert out.startswith("rnn-oracle INCONCLUSIVE: Wxh: inconclusive")
    assert "the bound exceeds the reference" in out


def test_spec_options_inputs_and_initial_state(
    user_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(f"{user_file}:good", "--convention", "karpathy", "--initial-state", "zero",
                "--cases", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["spec"]["initial_state"] == "zero"


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_convention_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          suffix: str) -> None:
    if suffix == ".toml" and sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    (tmp_path / "general.py").write_text((CORPUS / "general.py").read_text())
    user = tmp_path / "layer.py"
    user.write_text(
        "import rnn_oracle as ro\nfrom general import make\n"
        "layer = make(ro.RNNSpec(n_x=3, n_h=5, n_y=4, head='none'), 'layer')\n"
    )
    conv = tmp_path / f"mine{suffix}"
    if suffix == ".json":
        conv.write_text(json.dumps({"W": "W_hh", "U": "W_xh", "b": "b_h"}))
        name = "custom"
    else:
        conv.write_text('name = "mine"\nvectors = "column"\n\n[params]\n'
                        'W = "W_hh"\nU = "W_xh"\nb = "b_h"\n')
        name = "mine"
    assert _run(f"{user}:layer", "--convention", str(conv), "--mode", "layer",
                "--cases", "1", "--cell", "tanh") == 0
    assert f"convention {name!r}" in capsys.readouterr().out
    bad = tmp_path / f"bad{suffix}"
    bad.write_text("{not valid" if suffix == ".json" else "params = [")
    assert _run(f"{user}:layer", "--convention", str(bad), "--mode", "layer") == 2
    assert "not valid" in capsys.readouterr().err
    assert _run(f"{user}:layer", "--convention", str(tmp_path / f"none{suffix}")) == 2
    assert "no such file" in capsys.readouterr().err


CHAOTIC_LAYER = '''
import numpy as np

def layer(params, x, h0, dh):
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    g = {k: np.zeros_like(v) for k, v in params.items()}
    dx, dnext = np.zeros_like(x), np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        da = (dh[:, t] + dnext) * (1 - hs[t] ** 2)
        g["Wx"] += x[:, t].T @ da
        g["Wh"] += (hs[t - 1] if t else h0).T @ da
        g["b"] += da.sum(0)
        dx[:, t] = da @ Wx.T
        dnext = da @ Wh.T
    return {**g, "inputs": dx, "h0": dnext}
'''


def test_a_scale_no_case_can_judge_at_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scale fixes the weight scale: a saturated, chaotic float32 layer over 200 steps
    cannot judge every gradient on any of the --max-cases draws: inconclusive, exit 3."""
    path = tmp_path / "chaotic.py"
    path.write_text(CHAOTIC_LAYER)
    common = [f"{path}:layer", "--convention", "cs231n", "--mode", "layer", "--n-x", "32",
              "--n-h", "32", "--n-y", "32", "--seq-len", "200", "--dtype", "float32",
              "--cases", "1", "--max-cases", "2", "--quiet"]
    assert _run(*common, "--scale", "3") == 3
    out = capsys.readouterr().out
    assert "INCONCLUSIVE" in out and "2 case(s)" in out
    assert _run(*common) == 0


LSTM_SPEC_TOML = '''
[spec]
architecture = "many_to_many"
cell = "lstm"
n_x = 3
n_h = 4
initial_state = { h = "given", c = "zero" }
'''


def _cs231n_lstm(tmp_path: Path, slip: bool = False) -> Path:
    """CS231n's LSTM with its 10-line glue (the corpus); ``slip``: the carried dc is not
    multiplied by the forget gate."""
    text = (CORPUS / "cs231n_lstm.py").read_text()
    if slip:
        right = "return da @ Wx.T, da @ Wh.T, dc * f,"
        assert right in text
        text = text.replace(right, "return da @ Wx.T, da @ Wh.T, dc,")
    path = tmp_path / ("lstm_slip.py" if slip else "lstm.py")
    path.write_text(text)
    return path


def test_a_network_function_from_a_spec_file_and_from_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CS231n's LSTM fixes c0 = 0: said per state, in a TOML spec table or a flag."""
    conv = tmp_path / "lstm.toml"
    conv.write_text(LSTM_SPEC_TOML)
    good, slip = _cs231n_lstm(tmp_path), _cs231n_lstm(tmp_path, slip=True)
    assert _run(f"{good}:canonical", "--convention-file", str(conv), "--cases", "1",
                "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["spec"]["initial_state"] == {"h": "given", "c": "zero"}
    assert _run(f"{slip}:canonical", "--convention-file", str(conv), "--cases", "1",
                "--json") == 1
    causes = json.loads(capsys.readouterr().out)["causes"]
    assert causes["layer0.forward.W_hh"] == "forget_gate"
    flags = ["--architecture", "many_to_many", "--cell", "lstm", "--n-x", "3", "--n-h", "4",
             "--cases", "1", "-q"]
    assert _run(f"{good}:canonical", *flags, "--initial-state", "h=given,c=zero") == 0
    capsys.readouterr()
    # Without the per-state kinds the code is asked for a dc0 it does not return.
    assert _run(f"{good}:canonical", *flags) == 2
    assert "missing ['layer0.forward.c0']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--architecture", "many_to_many"], "--cell: a network's cell"),
        (["--cell", "lstm"], "--cell: 'lstm' needs a network: add --architecture"),
        (["--convention", "karpathy", "--initial-state", "fixed"],
         "--initial-state: 'fixed' needs a network"),
        (["--convention", "karpathy", "--n-layers", "2"], "--n-layers: 2 needs a network"),
        (["--architecture", "many_to_many", "--cell", "tanh", "--head", "linear_mse"],
         "--head: a network function is checked in layer mode"),
        (["--architecture", "many_to_many", "--cell", "tanh", "--convention", "karpathy"],
         "--convention: a network function takes canonical names"),
        (["--convention", "karpathy", "--sequence-layout", "batch_major"],
         "--sequence-layout: preset 'karpathy' fixes it"),
        (["--convention", "karpathy", "--names", '{"a": "b"}'], "--names: maps a torch"),
        (["--convention", "karpathy", "--initial-state", "h=given,h=zero"],
         "expected a kind"),
        (["--convention", '{"Wx": "W_xh.T", "absent": ["b_y"]}'],
         "has the convention field(s) absent but no 'params'"),
        (["--convention", '{"Wx": ["W_xh", "T"]}'], "'Wx': expected a name such as"),
        (["--convention", '{"params": {"Wx": "W_xh.T"}, "layout": "x"}'],
         "unknown key(s) layout"),
        (["--convention", "karpathy", "--convention-file", "x.toml"], "not both"),
    ],
)
def test_what_cannot_be_said_is_refused_naming_the_flag(
    user_file: Path, extra: list[str], message: str
) -> None:
    done = _cli(f"{user_file}:good", *extra)
    assert done.returncode == 2
    assert message in _one_line_error(done)


CS231N_RNN = '''
import numpy as np

def rnn_layer(params, x, h0, dh):
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    g = {k: np.zeros_like(v) for k, v in params.items()}
    dx, dnext = np.zeros_like(x), np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        da = (dh[:, t] + dnext) * (1 - hs[t] ** 2)
        g["Wx"] += x[:, t].T @ da
        g["Wh"] += (hs[t - 1] if t else h0).T @ da
        g["b"] += da.sum(0)
        dx[:, t] = da @ Wx.T
        dnext = da @ Wh.T
    return {**g, "inputs": dx, "h0": dnext}
'''


def test_a_custom_row_vector_convention_must_say_its_axis_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "layer.py"
    path.write_text(CS231N_RNN)
    mapping = json.dumps({"Wx": "W_xh.T", "Wh": "W_hh.T", "b": "b_h"})
    common = [f"{path}:rnn_layer", "--convention", mapping, "--mode", "layer", "--cell",
              "tanh", "--vectors", "row", "--cases", "1", "-q"]
    assert _run(*common) == 2
    assert "--sequence-layout: the cases are batched" in capsys.readouterr().err
    assert _run(*common, "--sequence-layout", "batch_major") == 0
    capsys.readouterr()
    # The wrong order is not a pass: T and B differ, so the layer's shapes break.
    assert _run(*common, "--sequence-layout", "time_major", "--seq-len", "5") != 0
    capsys.readouterr()
    # A flag that contradicts the file is refused, not silently preferred.
    conv = tmp_path / "conv.json"
    conv.write_text(json.dumps({"params": json.loads(mapping), "vectors": "row",
                                "sequence_layout": "batch_major", "spec": {"cell": "tanh"}}))
    file_args = [f"{path}:rnn_layer", "--convention-file", str(conv), "--mode", "layer",
                 "--cases", "1", "-q"]
    assert _run(*file_args) == 0
    capsys.readouterr()
    assert _run(*file_args, "--sequence-layout", "time_major") == 2
    assert "contradicts" in capsys.readouterr().err
    assert _run(*file_args, "--cell", "relu") == 2
    assert "--cell 'relu' contradicts" in capsys.readouterr().err


OWN_NAMES_FILE = '''
import torch


class OwnElman(torch.nn.Module):
    """A tanh layer with names of its own (n_x = n_h: the shapes do not decide them)."""

    def __init__(self, nonlinearity=None):
        super().__init__()
        torch.manual_seed(0)
        self.U = torch.nn.Parameter(torch.randn(3, 3, dtype=torch.float64))
        self.W = torch.nn.Parameter(torch.randn(3, 3, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.zero = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.batch_first = False
        if nonlinearity is not None:
            self.nonlinearity = nonlinearity

    def forward(self, x, h0):
        h, outs = h0[0], []
        for x_t in torch.unbind(x):
            h = torch.tanh(x_t @ self.U.T + self.bias + h @ self.W.T + self.zero)
            outs.append(h)
        return torch.stack(outs), h[None]


stated = OwnElman("tanh")
unstated = OwnElman()
'''


def test_a_module_with_names_of_its_own(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "own.py"
    path.write_text(OWN_NAMES_FILE)
    names = {"U": "weight_ih_l0", "W": "weight_hh_l0", "bias": "bias_ih_l0",
             "zero": "bias_hh_l0"}
    assert _run(f"{path}:stated", "--names", json.dumps(names), "--cases", "1", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {g["name"]: g["mapping"] for g in report["gradients"]}["W"].endswith("W_hh")
    swapped = {**names, "U": "weight_hh_l0", "W": "weight_ih_l0"}
    assert _run(f"{path}:stated", "--names", json.dumps(swapped), "--cases", "1", "-q") == 1
    capsys.readouterr()
    names_file = tmp_path / "names.toml"
    names_file.write_text("".join(f'{k} = "{v}"\n' for k, v in names.items()))
    # No nonlinearity attribute: asked for, never assumed; --cell says it.
    assert _run(f"{path}:unstated", "--names", str(names_file), "--initial-state",
                "zero") == 2
    assert "--cell" in capsys.readouterr().err
    assert _run(f"{path}:unstated", "--names", str(names_file), "--cell", "tanh",
                "--initial-state", "zero", "--cases", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["spec"]["initial_state"] == "zero"
    assert _run(f"{path}:unstated", "--names", str(names_file), "--cell", "relu",
                "--cases", "1", "-q") == 1
    capsys.readouterr()
    assert _run(f"{path}:stated", "--vectors", "row") == 2
    assert "--vectors: a module gives its own data layout" in capsys.readouterr().err
