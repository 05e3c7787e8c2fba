"""The mutation corpus: correct implementations in four conventions pass; every mutant is
detected (100%), and the diagnosis names the injected cause for at least 90% of them."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest

import rnn_oracle as ro
from tests.rnn_oracle.oracle.corpus import cs231n, karpathy, seed003

CORPORA: dict[str, tuple[Any, dict[str, Any]]] = {
    "karpathy": (karpathy, {"convention": "karpathy"}),
    "cs231n": (cs231n, {"convention": "cs231n", "mode": "layer"}),
    "seed003": (seed003, {"convention": "seed003"}),
}
try:
    import torch  # noqa: F401

    from tests.rnn_oracle.oracle.corpus import torch_function

    CORPORA["torch_function"] = (torch_function, {})
except ImportError:  # the torch corpus needs torch; the others stand alone
    pass

MUTANTS = [(corpus, bug) for corpus, (module, _) in CORPORA.items() for bug in module.MUTANTS]


@cache
def _report(corpus: str, bug: str | None) -> ro.GradientReport:
    module, options = CORPORA[corpus]
    return ro.check_gradients(module.make(bug), **options)


def _named_cause(report: ro.GradientReport) -> str:
    """The cause the report puts first: the most common one among failing gradients."""
    causes = Counter(c for c in report.causes.values() if c != "unknown")
    return causes.most_common(1)[0][0] if causes else "unknown"


@pytest.mark.parametrize("corpus", list(CORPORA))
def test_correct_implementation_passes(corpus: str) -> None:
    report = _report(corpus, None)
    assert report.passed, str(report)


@pytest.mark.parametrize(("corpus", "bug"), MUTANTS, ids=[f"{c}-{b}" for c, b in MUTANTS])
def test_mutant_is_detected(corpus: str, bug: str) -> None:
    report = _report(corpus, bug)
    assert not report.passed, f"{corpus}/{bug} passed"


def test_corpus_size_and_coverage() -> None:
    assert len(MUTANTS) >= 20
    expected = {CORPORA[c][0].MUTANTS[b] for c, b in MUTANTS}
    assert expected >= {
        "transposed", "negated", "scaled", "local_only", "truncated", "off_by_one_state",
        "wrong_activation_derivative", "clipped", "zero", "missing_accumulation", "swapped",
    }


def test_detection_and_diagnosis_rates() -> None:
    detected = [not _report(c, b).passed for c, b in MUTANTS]
    named = [_named_cause(_report(c, b)) == CORPORA[c][0].MUTANTS[b] for c, b in MUTANTS]
    misnamed = [
        f"{c}/{b}: expected {CORPORA[c][0].MUTANTS[b]}, got {_report(c, b).causes}"
        for (c, b), ok in zip(MUTANTS, named, strict=True) if not ok
    ]
    print(f"\nmutants: {len(MUTANTS)}; detected {100 * sum(detected) / len(MUTANTS):.0f}%; "
          f"diagnosed correctly {100 * sum(named) / len(MUTANTS):.0f}%")
    assert all(detected)
    assert sum(named) >= 0.9 * len(MUTANTS), misnamed


def test_a_verbatim_min_char_rnn_clip_is_caught_at_its_own_length() -> None:
    """min-char-rnn clips every gradient to ±5. On random data of its own length (T = 25)
    the largest true gradient can stay under 5, so the clip never bites and the wrong code
    passed (seed 0 did before the schedule's coherent case); the third case's data is the
    same at every step, its gradients add up, and the clip shows."""
    missed = [seed for seed in range(20)
              if ro.check_gradients(karpathy.make("clip_5"), convention="karpathy", seed=seed,
                                    seq_len=25, diagnose_failures=False).passed]
    assert missed == []
