"""``rnn-oracle verify``: table, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rnn_oracle import cli
from rnn_oracle.derivations import bptt


def test_verify_agrees_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    # JAX compiles every primitive per new shape (~2 s a variant); the nox `cross` session
    # runs the full matrix, with JAX, through the installed console script.
    assert cli.main(["verify", "--backend", "numpy", "--backend", "torch"]) == 0
    out = capsys.readouterr().out
    assert "ALL AGREE" in out
    header = out.splitlines()[0].split()
    assert header[:2] == ["variant", "numpy"]
    for variant in ("bptt", "finite_difference", "jacobian_chain", "kronecker", "differential",
                    "einsum", "rtrl", "complex_step"):
        assert any(line.startswith(variant + " ") for line in out.splitlines()), variant


def test_verify_detail_lists_every_array(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--detail", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "W_hh" in out and "inputs" in out and "h0" in out


def test_verify_json_names_methods_backends_and_arrays(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--json", "--cases", "2", "--backend", "numpy"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert report["baseline"] == {"method": "complex_step", "backend": "numpy"}
    assert len(report["cases"]) == 8
    rows = {(r["method"], r["backend"]): r for r in report["rows"]}
    assert ("bptt", "numpy") in rows and ("finite_difference", "numpy") in rows
    assert report["matrix"]["bptt"]["numpy"]["passed"] is True
    assert report["matrix"]["complex_step"]["numpy"]["status"] == "baseline"
    cells = rows[("bptt", "numpy")]["cells"]
    assert set(cells) >= {"W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0"}
    assert all(c["error"] <= c["tolerance"] for c in cells.values())


def test_verify_exits_one_on_disagreement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = bptt.gradients

    def broken(case, backend):  # the recurrent path scaled by 1 + 1e-6
        ref = real(case, backend)
        grads = dict(ref.grads)
        grads["W_hh"] = np.asarray(grads["W_hh"]) * (1 + 1e-6)
        return type(ref)(**{**ref.__dict__, "grads": grads})

    monkeypatch.setattr(bptt, "gradients", broken)
    assert cli.main(["verify", "--method", "bptt", "--backend", "numpy", "--detail"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREEMENT" in out and "FAIL" in out and "!" in out
    assert "FAIL bptt on numpy: W_hh error" in out


def test_single_spec_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "--cell", "relu", "--head", "linear_mse", "--reduction", "mean",
                     "--inputs", "indices", "--batch", "0", "--seq-len", "3", "--dtype", "float32",
                     "--backend", "numpy"])
    assert code == 0, capsys.readouterr().out


def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--head", "none"]) == 2
    assert "--head: give --cell too" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", "--n-h", "0"])
    assert exc.value.code == 2


def test_console_script_module_runs() -> None:
    command = [sys.executable, "-m", "rnn_oracle.cli", "verify", "--json", "--backend", "numpy"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["passed"] is True
