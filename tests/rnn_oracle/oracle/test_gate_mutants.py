"""The gated mutation corpus: LSTM and GRU backwards written by hand, in NumPy (CS231n's
step functions, Karpathy's batched gist, a per-gate GRU) and in torch
(``autograd.Function``), each correct version passing and each slip detected (100%) and
diagnosed with the cause and gate its corpus module declares (at least 90%).

Every slip is checked once, on two cases (T = 5 and T = 64); the reports are shared by
the tests below.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from rnn_oracle.architectures import NetworkSpec
from rnn_oracle.oracle import CAUSES, GradientReport, check_network_gradients
from tests.rnn_oracle.oracle.corpus import gru_numpy, karpathy_lstm, lstm_numpy

Expected = tuple[str, str | None]


@dataclass(frozen=True)
class Corpus:
    make: Callable[[str | None], Any]
    mutants: dict[str, Expected]
    cell: str
    names: str  #: the function's names: canonical or torch
    framework: str


CORPORA: dict[str, Corpus] = {
    "cs231n_lstm": Corpus(lstm_numpy.make, lstm_numpy.MUTANTS, "lstm", "canonical", "numpy"),
    "karpathy_lstm": Corpus(karpathy_lstm.make, karpathy_lstm.MUTANTS, "lstm", "canonical",
                            "numpy"),
    "gru_numpy": Corpus(gru_numpy.make, gru_numpy.MUTANTS, "gru", "canonical", "numpy"),
}
try:
    import torch  # noqa: F401

    from tests.rnn_oracle.oracle.corpus import gated_torch

    for _cell in ("lstm", "gru"):
        CORPORA[f"torch_{_cell}"] = Corpus(
            lambda bug, cell=_cell: gated_torch.make(cell, bug),  # type: ignore[misc]
            gated_torch.MUTANTS[_cell], _cell, "torch", "torch",
        )
except ImportError:  # the torch corpus needs torch; the NumPy ones stand alone
    pass

MUTANTS = [(corpus, bug) for corpus, c in CORPORA.items() for bug in c.mutants]
SEQ_LEN = 5  #: the first case's length (NETWORK_SEQ_LENS), where a slip's start is read


@cache
def _report(corpus: str, bug: str | None) -> GradientReport:
    c = CORPORA[corpus]
    spec = NetworkSpec("many_to_many", cell=c.cell, n_x=3, n_h=4, head="none")
    return check_network_gradients(c.make(bug), spec=spec, names=c.names, cases=2)


def _named(report: GradientReport) -> Expected:
    """The cause the report puts first (the most common among failing arrays) and the gate
    most of those diagnoses name."""
    causes = Counter(c for c in report.causes.values() if c != "unknown")
    if not causes:
        return "unknown", None
    cause = causes.most_common(1)[0][0]
    gates = Counter(g.diagnosis.params.get("gate") for g in report.failures
                    if g.diagnosis is not None and g.diagnosis.cause == cause)
    return cause, gates.most_common(1)[0][0]


def _right(corpus: str, bug: str) -> bool:
    cause, gate = CORPORA[corpus].mutants[bug]
    named_cause, named_gate = _named(_report(corpus, bug))
    # a cause of no one gate (the cell-state path, every gate's bias) must name none either
    return (named_cause, named_gate) == (cause, gate)


@pytest.mark.parametrize("corpus", list(CORPORA))
def test_correct_implementation_passes(corpus: str) -> None:
    report = _report(corpus, None)
    assert report.passed, str(report)
    assert all(g.diagnosis is None and g.gate_map is None for g in report.gradients)


@pytest.mark.parametrize(("corpus", "bug"), MUTANTS, ids=[f"{c}-{b}" for c, b in MUTANTS])
def test_slip_is_detected(corpus: str, bug: str) -> None:
    assert not _report(corpus, bug).passed, f"{corpus}/{bug} passed"


def test_corpus_size_and_coverage() -> None:
    assert len(MUTANTS) >= 12
    frameworks = {CORPORA[c].framework for c, _ in MUTANTS}
    cells = {CORPORA[c].cell for c, _ in MUTANTS}
    assert cells == {"lstm", "gru"}
    assert "numpy" in frameworks
    expected = {CORPORA[c].mutants[b][0] for c, b in MUTANTS}
    # the kinds of issue #14 item 4, and the GRU's own gates
    assert expected >= {
        "gates_permuted", "wrong_gate_derivative", "cell_state_path", "forget_gate",
        "gate_bias_one_step", "output_gate", "update_gate", "reset_gate", "gate_values_swapped",
    }
    assert expected <= set(CAUSES)


def test_detection_and_diagnosis_rates() -> None:
    rows, detected, right = [], 0, 0
    for corpus, bug in MUTANTS:
        report = _report(corpus, bug)
        detected += not report.passed
        ok = _right(corpus, bug)
        right += ok
        cause, gate = CORPORA[corpus].mutants[bug]
        named = _named(report)
        rows.append(f"{corpus:14} {bug:28} expected {cause}/{gate or '-'}; named "
                    f"{named[0]}/{named[1] or '-'} {'ok' if ok else 'MISSED'}")
    print("\n" + "\n".join(rows))
    print(f"gated mutants: {len(MUTANTS)}; detected {100 * detected / len(MUTANTS):.0f}%; "
          f"cause and gate right {100 * right / len(MUTANTS):.0f}%")
    assert detected == len(MUTANTS)
    assert right >= 0.9 * len(MUTANTS), [r for r in rows if r.endswith("MISSED")]


# -- the gate map -------------------------------------------------------------------------
def _map_of(corpus: str, bug: str, name: str) -> Any:
    report = _report(corpus, bug)
    g = report[name]
    assert g.gate_map is not None, name
    return g, report


def test_gate_map_in_report_json_and_text() -> None:
    g, report = _map_of("cs231n_lstm", "dag_sigmoid", "layer0.forward.W_hh")
    m = g.gate_map
    assert m.gates == ("i", "f", "g", "o")
    assert m.steps is not None and m.steps.shape[0] == 4
    assert m.steps.shape[1] in {c.seq_len for c in report.cases}
    data = json.loads(report.to_json())
    entry = next(e for e in data["gradients"] if e["name"] == "layer0.forward.W_hh")
    assert entry["gate_map"]["gates"] == ["i", "f", "g", "o"]
    assert set(entry["gate_map"]["steps"]) == {"i", "f", "g", "o"}
    assert entry["gate_map"]["starts"] == m.starts
    assert "per gate and step" in str(report)
    # inputs and initial states have no gate blocks: no map
    assert report["inputs"].gate_map is None and report["layer0.forward.h0"].gate_map is None


def test_gate_map_in_the_plot(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")  # the plot extra; the torch session has none
    _, report = _map_of("cs231n_lstm", "dag_sigmoid", "layer0.forward.W_hh")
    fig = report.plot(str(tmp_path / "gates.png"))
    assert (tmp_path / "gates.png").stat().st_size > 0
    assert any("per gate and step" in ax.get_title() for ax in fig.axes)


def _first_case_map(corpus: str, bug: str, name: str) -> Any:
    """The map of ``name`` on the first case alone (T = SEQ_LEN)."""
    c = CORPORA[corpus]
    spec = NetworkSpec("many_to_many", cell=c.cell, n_x=3, n_h=4, head="none")
    report = check_network_gradients(c.make(bug), spec=spec, names=c.names, cases=1,
                                     seq_len=SEQ_LEN)
    m = report[name].gate_map
    assert m is not None and m.steps is not None
    return m


@pytest.mark.parametrize(("corpus", "bug", "starts"), [
    # a gate's derivative is wrong from the first step the backward pass takes
    ("cs231n_lstm", "dag_sigmoid", SEQ_LEN - 1),
    # nothing is carried into the last step: the forget gate's (or the carried dc's)
    # absence first shows one step earlier
    ("cs231n_lstm", "dprev_c_no_forget", SEQ_LEN - 2),
    ("cs231n_lstm", "no_dnext_c", SEQ_LEN - 2),
])
def test_gate_map_says_where_the_slip_starts(corpus: str, bug: str, starts: int) -> None:
    m = _first_case_map(corpus, bug, "layer0.forward.W_xh")
    assert m.starts == starts
    assert m.steps[:, starts + 1 :].max(initial=0.0) <= 1.0  # later steps agree


def test_gate_map_names_the_gate_of_a_weight_slip() -> None:
    # only gate z's b_hh block holds one step: the other gates agree at every step
    m = _first_case_map("gru_numpy", "db_hz_overwritten", "layer0.forward.b_hh")
    assert m.worst_gate == "z"
    assert m.steps[[0, 2]].max() <= 1.0 < m.steps[1].max()
    assert max(m.gate_errors[0], m.gate_errors[2]) <= 1.0 < m.gate_errors[1]
