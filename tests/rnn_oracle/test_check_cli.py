"""``rnn-oracle check FILE.py:NAME``: exit 0 pass, 1 wrong, 2 usage/import/protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rnn_oracle import check_cli

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
    assert _run(f"{user}:layer", "--convention", mapping, "--mode", "layer") == 0
    assert "convention 'custom'" in capsys.readouterr().out


TORCH_FILE = '''
import torch

torch.manual_seed(0)
gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)


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
