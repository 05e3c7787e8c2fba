"""``rnn-oracle verify`` and the command line as a whole: tables, JSON, exit codes (0 right,
1 wrong, 2 usage, 3 not judged), one-line errors without tracebacks, --version,
``python -m rnn_oracle``, progress, output that is not truncated when piped."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import rnn_oracle as ro
from backends import available_backends
from rnn_oracle import cli
from rnn_oracle.derivations import bptt
from rnn_oracle.errors import ExitCode
from rnn_oracle.oracle.render import progress

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m rnn_oracle ARGS`` in a subprocess, stdout and stderr piped."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (full_env.get("PYTHONPATH", ""), str(ROOT)) if p
    )
    return subprocess.run([sys.executable, "-m", "rnn_oracle", *args], capture_output=True,
                          text=True, check=False, env=full_env, timeout=600)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed run: exactly one line, no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_verify_agrees_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    # JAX compiles every primitive per new shape (~2 s a variant); the nox `cross` session
    # runs the full matrix, with JAX, through the installed console script.
    backends = ["numpy", *(["torch"] if "torch" in available_backends() else [])]
    args = ["verify"] + [a for b in backends for a in ("--backend", b)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "ALL AGREE"
    header = out.splitlines()[0].split()
    assert header == ["variant", *backends]
    for variant in ("bptt", "finite_difference", "jacobian_chain", "kronecker", "differential",
                    "einsum", "rtrl", "complex_step"):
        assert any(line.startswith(variant + " ") for line in out.splitlines()), variant


def test_verify_detail_lists_every_array(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--detail", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    detail = next(line for line in out.splitlines() if line.split()[:2] == ["variant", "backend"])
    assert {"W_hh", "inputs", "h0"} <= set(detail.split())


def test_verify_json_names_methods_backends_and_arrays(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--json", "--cases", "2", "--backend", "numpy"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["verdict"] == "right"
    assert report["exit_code"] == 0 and report["not_judged"] == []
    assert report["requested_backends"] == ["numpy"] and report["compared"] > 0
    assert report["baseline"] == {"method": "complex_step", "backend": "numpy"}
    assert len(report["cases"]) == 8
    rows = {(r["method"], r["backend"]): r for r in report["rows"]}
    assert ("bptt", "numpy") in rows and ("finite_difference", "numpy") in rows
    assert report["matrix"]["bptt"]["numpy"]["passed"] is True
    assert report["matrix"]["bptt"]["numpy"]["compared"] is True
    assert report["matrix"]["complex_step"]["numpy"]["status"] == "baseline"
    assert report["matrix"]["complex_step"]["numpy"]["compared"] is False
    cells = rows[("bptt", "numpy")]["cells"]
    assert set(cells) >= {"W_hh", "W_xh", "b_h", "W_hy", "b_y", "h0"}
    assert all(c["error"] <= c["tolerance"] for c in cells.values())


def test_verify_exits_one_on_disagreement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = bptt.gradients

    def broken(case, backend):  # type: ignore[no-untyped-def]  # W_hh scaled by 1 + 1e-6
        ref = real(case, backend)
        grads = dict(ref.grads)
        grads["W_hh"] = np.asarray(grads["W_hh"]) * (1 + 1e-6)
        return type(ref)(**{**ref.__dict__, "grads": grads})

    monkeypatch.setattr(bptt, "gradients", broken)
    assert cli.main(["verify", "--method", "bptt", "--backend", "numpy", "--detail"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "DISAGREEMENT" and "FAIL" in out and "!" in out
    assert "FAIL bptt on numpy: W_hh error" in out


def test_single_spec_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "--cell", "relu", "--head", "linear_mse", "--reduction", "mean",
                     "--inputs", "indices", "--batch", "0", "--seq-len", "3", "--dtype", "float32",
                     "--backend", "numpy"])
    assert code == 0, capsys.readouterr().out


def test_usage_errors_exit_two_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--head", "none"]) == 2
    assert "--head: give --cell too" in capsys.readouterr().err
    assert cli.main(["verify", "--n-h", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("rnn-oracle verify: error: argument --n-h: expected an integer ≥ 1")
    assert cli.main(["verify", "--seed", "-1"]) == 2
    assert "argument --seed: expected an integer ≥ 0, got -1" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


VERIFY = "rnn-oracle verify: error: "


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["verify", "--method", "nope"],
         f"{VERIFY}--method: unknown 'nope'; the methods are bptt, finite_difference"),
        (["verify", "--all-architectures", "--method", "layer"],
         f"{VERIFY}--method: unknown 'layer'; the methods of --all-architectures are bptt, "
         "layerwise"),
        (["verify", "--backend", "nope"],
         f"{VERIFY}argument --backend: invalid choice: 'nope' (choose from 'numpy', 'torch', "
         "'jax')"),
        (["verify", "--backends", "numpy", "tensorflow"],
         f"{VERIFY}argument --backends: invalid choice: 'tensorflow'"),
        (["verify", "--no-such-option"],
         "rnn-oracle: error: unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_names_exit_two_naming_the_choices_without_a_traceback(
    args: list[str], expected: str
) -> None:
    done = _cli(*args)
    assert done.returncode == ExitCode.USAGE, done.stderr
    line = _one_line_error(done)
    assert line.startswith(expected), line
    assert done.stdout == ""


def test_json_errors_are_json_on_stdout() -> None:
    done = _cli("verify", "--json", "--method", "nope")
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert error["exit_code"] == 2 and "--method: unknown 'nope'" in error["error"]
    done = _cli("verify", "--json", "--n-h", "x")
    assert done.returncode == 2 and json.loads(done.stdout)["exit_code"] == 2


def test_a_requested_backend_that_is_not_installed_is_not_judged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    verify_module = importlib.import_module("rnn_oracle._verify")
    monkeypatch.setattr(verify_module, "available_backends", lambda: ("numpy",))
    assert cli.main(["verify", "--backend", "torch", "--method", "bptt"]) == 3
    out = capsys.readouterr().out
    assert "ALL AGREE" not in out
    assert out.splitlines()[-1].startswith("NOT JUDGED: nothing was compared")
    assert "backend 'torch' was asked for but is not installed (pip install" in out
    # numpy agrees, but torch was asked for and did not run: still no verdict.
    assert cli.main(["verify", "--backend", "numpy", "--backend", "torch", "--method",
                     "bptt", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "inconclusive" and report["passed"] is False
    assert report["not_judged"] == [
        "backend 'torch' was asked for but is not installed (pip install 'rnn-oracle[torch]')"
    ]
    # Not asked for: an absent backend is reported, and the rest is a verdict.
    assert cli.main(["verify", "--method", "bptt"]) == 0
    assert "torch: skipped: not installed" in capsys.readouterr().out


@pytest.mark.skipif("torch" in available_backends(), reason="torch is installed here; the "
                    "monkeypatched test above covers the logic")
def test_verify_backend_torch_without_torch_exits_three() -> None:
    done = _cli("verify", "--backend", "torch")
    assert done.returncode == ExitCode.NOT_JUDGED, done.stdout + done.stderr
    assert "ALL AGREE" not in done.stdout and "Traceback" not in done.stderr


def test_a_broken_framework_is_named_and_not_judged(tmp_path: Path) -> None:
    # A torch that is present but fails to import (a broken install): PYTHONPATH puts it
    # before any real one.
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(
        "raise ImportError('libtorch_cpu.so: cannot open shared object file')\n"
    )
    env = {"PYTHONPATH": str(tmp_path)}
    done = _cli("verify", "--backend", "numpy", "--backend", "torch", "--method", "bptt",
                env=env)
    assert done.returncode == ExitCode.NOT_JUDGED, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("NOT JUDGED: backend 'torch' was asked for but is broken (")
    assert "torch is installed but cannot be " in last and "ImportError: libtorch_cpu" in last
    # Not asked for: the run is judged on the rest, and the broken framework is named.
    done = _cli("verify", "--method", "bptt", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torch: skipped: broken (backend 'torch': torch is installed but cannot be" \
        in done.stdout


def test_nothing_compared_is_not_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    # The baseline alone, and a method that does not apply to the backend: nothing compared.
    assert cli.main(["verify", "--method", "complex_step", "--backend", "numpy"]) == 3
    assert "ALL AGREE" not in capsys.readouterr().out
    assert cli.main(["verify", "--method", "autodiff", "--backend", "numpy"]) == 3
    assert capsys.readouterr().out.splitlines()[-1].startswith("NOT JUDGED")


def test_verify_api_refuses_empty_and_unknown_inputs() -> None:
    with pytest.raises(ro.OracleError, match=r"verify: specs: expected at least one RNNSpec"):
        ro.verify([])
    with pytest.raises(ro.OracleError, match=r"verify: specs\[0\]: expected an RNNSpec"):
        ro.verify(["tanh"])  # type: ignore[list-item]
    with pytest.raises(ro.OracleError, match="verify: seeds: expected at least one seed"):
        ro.verify(seeds=[])
    with pytest.raises(ro.OracleError, match=r"verify: seeds\[0\]: expected a non-negative"):
        ro.verify(seeds=[-1])
    with pytest.raises(ro.OracleError, match="verify: methods: expected at least one"):
        ro.verify(methods=[])
    with pytest.raises(ro.OracleError, match="verify: methods: unknown 'nope'; known methods"):
        ro.verify(methods=["nope"])
    with pytest.raises(ro.OracleError, match="verify: backends: unknown 'tf'; known backends"):
        ro.verify(backends=["tf"])
    with pytest.raises(ro.OracleError, match="expected a sequence of names, got the string"):
        ro.verify(backends="numpy")  # type: ignore[arg-type]


def test_verify_api_does_not_mutate_its_arguments() -> None:
    specs = [ro.RNNSpec(cell="tanh", n_x=2, n_h=3, n_y=2)]
    methods, backends = ["bptt", "complex_step"], ["numpy"]
    report = ro.verify(specs, methods=methods, backends=backends, seq_len=2)
    assert report.passed and report.exit_code == 0
    assert methods == ["bptt", "complex_step"] and backends == ["numpy"] and len(specs) == 1


def test_verify_progress_reports_every_row() -> None:
    seen: list[tuple[int, int, str]] = []
    ro.verify([ro.RNNSpec(cell="tanh", n_x=2, n_h=3, n_y=2)], seq_len=2,
              methods=["bptt", "complex_step"], backends=["numpy"],
              progress=lambda *a: seen.append(a))
    assert seen == [(0, 2, "bptt on numpy"), (1, 2, "complex_step on numpy"), (2, 2, "done")]


def test_progress_shows_on_a_terminal_only_and_not_with_quiet() -> None:
    def run(quiet: bool, terminal: bool) -> str:
        buffer = io.StringIO()
        err = Console(file=buffer, force_terminal=terminal, width=100)
        with progress("verify", quiet=quiet, console=err) as update:
            update(1, 4, "bptt on numpy")
        return buffer.getvalue()

    assert "verify" in run(quiet=False, terminal=True)
    assert run(quiet=True, terminal=True) == ""
    assert run(quiet=False, terminal=False) == ""


def test_piped_output_is_neither_truncated_nor_noisy() -> None:
    done = _cli("verify", "--detail", "--backend", "numpy", env={"COLUMNS": "40"})
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert done.stderr == ""  # no progress display on a pipe
    detail = [line.split() for line in done.stdout.splitlines() if line.startswith("bptt ")]
    # every array's error is printed in full, on one line: "bptt numpy 4.2e-17 ..."
    assert any(len(cells) == 2 + 7 and cells[1] == "numpy" for cells in detail), done.stdout


def test_version_and_python_dash_m() -> None:
    done = _cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rnn-oracle {metadata.version('rnn-oracle')}"
    done = _cli("verify", "--json", "--backend", "numpy", "--method", "bptt")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["passed"] is True
    done = _cli("--help")
    assert done.returncode == 0 and "verify" in done.stdout and "Exit status" in done.stdout


def test_every_module_main_handles_help() -> None:
    for module in ("rnn_oracle", "rnn_oracle.cli", "rnn_oracle.architectures._diagram"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, check=False, cwd=ROOT, timeout=120)
        assert done.returncode == 0, (module, done.stderr)
        assert done.stdout.startswith("usage:"), (module, done.stdout)
        assert "Traceback" not in done.stderr, module


def test_an_internal_error_is_one_line_and_not_judged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    verify_module = importlib.import_module("rnn_oracle._verify")

    def crash(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(verify_module, "verify", crash)
    assert cli.main(["verify", "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("rnn-oracle verify: internal error: TypeError: unsupported")
    assert "--traceback" in captured.err
    assert json.loads(captured.out)["exit_code"] == 3
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["--traceback", "verify"])


def test_shell_completion_when_argcomplete_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    out = tmp_path / "completions"
    line = "rnn-oracle verify --all-arch"
    done = _cli(env={"_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
                     "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n"})
    assert done.returncode == 0, done.stderr
    assert "--all-architectures" in out.read_text().split()


def test_the_program_keeps_jax_programs_on_disk_and_main_does_not(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    args = ("verify", "--backend", "jax", "--method", "bptt", "--cases", "1", "-q")
    clean = {**env, "XDG_CACHE_HOME": str(tmp_path / "off")}
    done = subprocess.run([sys.executable, "-m", "rnn_oracle", *args, "--no-compile-cache"],
                          capture_output=True, text=True, env=clean, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "off").exists()  # opted out: nothing written
    done = subprocess.run([sys.executable, "-m", "rnn_oracle", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any((tmp_path / "cache" / "rnn-oracle" / "jax").iterdir())
    # In a program that calls main(), the environment is left as it was.
    before = dict(os.environ)
    assert cli.main(["verify", "--backend", "numpy", "--method", "bptt", "-q"]) == 0
    assert dict(os.environ) == before
