"""The architecture × cell cross-check matrix and ``rnn-oracle verify --all-architectures``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_oracle import OracleError, cli
from rnn_oracle.architectures import NETWORK_METHODS, NetworkSpec
from rnn_oracle.architectures import reference as network_ref
from rnn_oracle.architectures.spec import ARCHITECTURES
from rnn_oracle.architectures.verify import (
    FAMILIES,
    default_entries,
    entry_key,
    verify_architectures,
)

ENTRY_KEYS = ("many_to_one", "one_to_many", "encoder_decoder", "stacked", "bidirectional",
              "deep_bidirectional")


def test_default_entries_cover_every_architecture_with_every_cell_family() -> None:
    entries = default_entries()
    covered = {(s.architecture, FAMILIES[s.cell]) for s in entries}
    assert covered == {(a, f) for a in ARCHITECTURES for f in ("vanilla", "gru", "lstm")}
    feedbacks = {s.feedback for s in entries if s.architecture == "one_to_many"}
    assert feedbacks == {"none", "output", "hidden"}
    assert {s.head for s in entries} == {"softmax_ce", "linear_mse", "none"}
    keys = [(s.architecture, entry_key(s)) for s in entries]
    assert len(set(keys)) == len(keys)


@pytest.fixture(scope="module")
def numpy_report():  # type: ignore[no-untyped-def]
    return verify_architectures(backends=["numpy"])


def test_matrix_agrees_on_numpy(numpy_report) -> None:  # type: ignore[no-untyped-def]
    assert numpy_report.passed, numpy_report.format_table()
    for entry in numpy_report.entries:
        bptt = entry.report.row("bptt", "numpy")
        assert bptt is not None and bptt.status == "ran" and bptt.cells
        # Every differentiable array is compared, not just a sample.
        assert {c.name for c in bptt.cells} == set(entry.report.names)
        fd = entry.report.row("finite_difference", "numpy")
        assert fd is not None and fd.status == "ran" and fd.passed


def test_every_row_has_a_status_and_n_a_rows_say_why(numpy_report) -> None:  # type: ignore[no-untyped-def]
    statuses = set()
    for entry in numpy_report.entries:
        assert entry.report.methods() == tuple(NETWORK_METHODS)
        for row in entry.report.rows:
            assert row.status
            statuses.add(row.status.split(":")[0])
            if row.status.startswith("n/a"):
                assert len(row.status) > len("n/a: ") and not row.cells
            if row.status == "ran":
                assert row.cells
    assert {"ran", "baseline", "n/a"} <= statuses
    gated = next(e for e in numpy_report.entries if e.spec.cell == "gru")
    layerwise = gated.report.row("layerwise", "numpy")
    assert layerwise is not None and layerwise.status.startswith("n/a: ")
    assert "gated" in layerwise.status
    auto = gated.report.row("autodiff", "numpy")
    assert auto is not None and auto.status == "n/a: needs reverse"


def test_json_names_every_architecture_and_cell(numpy_report) -> None:  # type: ignore[no-untyped-def]
    report = json.loads(json.dumps(numpy_report.to_json()))
    assert report["passed"] is True
    archs = report["architectures"]
    assert set(archs) == set(ARCHITECTURES)
    text = json.dumps(report)
    for key in (*ENTRY_KEYS, "gru", "lstm"):
        assert f'"{key}"' in text, key
    stacked = archs["stacked"]
    assert stacked["passed"] is True
    assert {"gru", "lstm"} <= set(stacked["cells"])
    gru = stacked["cells"]["gru"]
    assert gru["backends"]["numpy"]["passed"] is True
    assert "bptt" in gru["backends"]["numpy"]["ran"]
    assert gru["backends"]["numpy"]["n/a"]["layerwise"].startswith("n/a: ")
    assert gru["matrix"]["bptt"]["numpy"]["passed"] is True
    assert set(archs["one_to_many"]["cells"]) >= {"tanh", "sigmoid+output", "relu+hidden"}


def test_absent_backend_is_skipped_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnn_oracle.architectures import verify as av

    monkeypatch.setattr(av, "available_backends", lambda: ("numpy",))
    report = verify_architectures(
        [NetworkSpec("many_to_one", "tanh", n_x=2, n_h=2, n_y=2)],
        methods=["bptt", "autodiff", "complex_step"], backends=["numpy", "torch"],
    )
    row = report.entries[0].report.row("bptt", "torch")
    assert row is not None and row.status.startswith("skipped: not installed (pip install")
    # torch was asked for and did not run: nothing was compared there, so no pass (exit 3).
    assert not report.passed and report.verdict == "inconclusive"
    assert report.exit_code == 3 and any("torch" in why for why in report.not_judged)
    assert report.to_json()["backends"]["torch"]["status"].startswith("skipped")
    assert "torch: skipped: not installed" in report.format_table()


def _perturbed(real):  # type: ignore[no-untyped-def]
    def broken(case, be):  # type: ignore[no-untyped-def]
        ref = real(case, be)
        grads = dict(ref.grads)
        name = next(n for n in grads if n.endswith("W_hh"))
        grads[name] = grads[name] * (1 + 1e-6)
        return type(ref)(**{**ref.__dict__, "grads": grads})

    return broken


def test_perturbed_method_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(network_ref._RUNNERS, "bptt", _perturbed(network_ref._RUNNERS["bptt"]))
    report = verify_architectures(
        [NetworkSpec("stacked", "lstm", n_x=2, n_h=2, n_y=2)],
        methods=["bptt", "complex_step"], backends=["numpy"],
    )
    assert not report.passed
    row = report.entries[0].report.row("bptt", "numpy")
    assert row is not None and not row.passed
    assert row.worst_cell is not None and row.worst_cell.name.endswith("W_hh")
    table = report.format_table()
    assert "FAIL: bptt" in table and "DISAGREEMENT" in table
    assert "FAIL stacked×2/lstm: bptt on numpy: layer" in table
    assert report.to_json()["architectures"]["stacked"]["cells"]["lstm"]["passed"] is False


def test_a_crashing_method_is_a_failure_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(case, be):  # type: ignore[no-untyped-def]
        raise ValueError("shapes do not match")

    monkeypatch.setitem(network_ref._RUNNERS, "bptt", crash)
    report = verify_architectures(
        [NetworkSpec("many_to_one", "gru", n_x=2, n_h=2, n_y=2)],
        methods=["bptt"], backends=["numpy"],
    )
    row = report.entries[0].report.row("bptt", "numpy")
    assert row is not None and row.status == "error: ValueError: shapes do not match"
    assert not report.passed


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(OracleError, match="dtype"):
        verify_architectures(dtype="float32")
    with pytest.raises(OracleError, match="methods"):
        verify_architectures(methods=["nope"])
    with pytest.raises(OracleError, match="backends"):
        verify_architectures(backends=["tensorflow"])
    with pytest.raises(OracleError, match=r"entries\[0\]"):
        verify_architectures(["stacked"])  # type: ignore[list-item]
    with pytest.raises(OracleError, match="seeds"):
        verify_architectures(seeds=[])


def test_cli_all_architectures(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "--all-architectures", "--backends", "numpy",
                     "--method", "bptt", "--method", "layerwise", "--method", "complex_step"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["architecture", "cell", "head", "numpy"]
    for arch in ARCHITECTURES:
        assert any(line.startswith(arch) for line in out.splitlines()), arch
    assert "ALL AGREE" in out


def test_cli_all_architectures_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "--all-architectures", "--json", "--backend", "numpy",
                     "--method", "bptt", "--method", "complex_step"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["architectures"]) == set(ARCHITECTURES)
    assert report["architectures"]["bidirectional"]["cells"]["lstm"]["passed"] is True


def test_cli_exits_one_on_disagreement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(network_ref._RUNNERS, "bptt", _perturbed(network_ref._RUNNERS["bptt"]))
    code = cli.main(["verify", "--all-architectures", "--backends", "numpy",
                     "--method", "bptt", "--method", "complex_step", "--detail"])
    assert code == 1
    out = capsys.readouterr().out
    assert "DISAGREEMENT" in out and "== deep_bidirectional×2/gru" in out


def test_cli_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--all-architectures", "--cell", "tanh"]) == 2
    assert "--cell: not used with --all-architectures" in capsys.readouterr().err
    assert cli.main(["verify", "--all-architectures", "--dtype", "float32"]) == 2
    assert cli.main(["verify", "--all-architectures", "--method", "nope"]) == 2
    assert "methods" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_matrix_agrees_on_framework(backend: str) -> None:
    # The whole default matrix on one framework is the nox `cross` session's job (JAX runs
    # eagerly: minutes); here one entry per cell family and architecture kind.
    pytest.importorskip(backend)
    entries = [
        NetworkSpec("deep_bidirectional", "tanh", n_x=2, n_h=2, n_y=2),
        NetworkSpec("encoder_decoder", "gru", n_x=2, n_h=2, n_y=2, head="linear_mse"),
        NetworkSpec("one_to_many", "lstm", n_x=2, n_h=2, n_y=2, feedback="hidden"),
    ]
    methods = ["bptt", "layerwise", "autodiff", "complex_step"]
    report = verify_architectures(entries, batch=None, methods=methods,
                                  backends=["numpy", backend])
    assert report.passed, report.format_table()
    for entry in report.entries:
        row = entry.report.row("autodiff", backend)
        assert row is not None and row.status == "ran" and row.cells


def test_numbers_are_finite(numpy_report) -> None:  # type: ignore[no-untyped-def]
    for entry in numpy_report.entries:
        for row in entry.report.rows:
            assert all(np.isfinite(c.error) for c in row.cells)
