"""The oracle: check someone's RNN gradients and say which is wrong, where, and why.

``check_gradients`` runs a target (a function in one of two calling protocols, a torch
module, a Flax cell) on random cases, judges every gradient against the float64 hand-BPTT
reference with the float32-aware tolerance policy, and diagnoses each failure by testing
named hypotheses (:data:`CAUSES`). The answer is a printable, JSON-able, plottable
:class:`GradientReport`.
"""

from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.oracle.check import (
    GradientMismatch,
    assert_gradients_match,
    check_gradients,
    check_network_gradients,
)
from rnn_oracle.oracle.diagnosis import CAUSES, Diagnosis
from rnn_oracle.oracle.report import GateMap, GradientReport, GradientResult, LossResult
from rnn_oracle.oracle.targets import LAYER_PROTOCOL, MODEL_PROTOCOL, NETWORK_PROTOCOL, Target

__all__ = [
    "CAUSES",
    "LAYER_PROTOCOL",
    "MODEL_PROTOCOL",
    "NETWORK_PROTOCOL",
    "Diagnosis",
    "GateMap",
    "GradientMismatch",
    "GradientReport",
    "GradientResult",
    "LossResult",
    "Target",
    "assert_gradients_match",
    "check_gradients",
    "check_network_gradients",
]
