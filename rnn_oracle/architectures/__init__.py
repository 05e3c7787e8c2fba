"""Architectures beyond one vanilla layer — many-to-one, one-to-many, encoder–decoder,
stacked, bidirectional, deep bidirectional — and the GRU and LSTM cells."""

from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.reference import NETWORK_METHODS, network_reference
from rnn_oracle.architectures.spec import (
    ARCHITECTURES,
    GATES,
    NETWORK_CELLS,
    Block,
    NetworkSpec,
)

__all__ = [
    "ARCHITECTURES",
    "GATES",
    "NETWORK_CELLS",
    "NETWORK_METHODS",
    "Block",
    "NetworkCase",
    "NetworkSpec",
    "make_network_case",
    "network_reference",
]

from rnn_oracle.architectures._diagram import diagram
from rnn_oracle.architectures.verify import (
    ArchitecturesReport,
    default_entries,
    verify_architectures,
)

__all__ += ["ArchitecturesReport", "default_entries", "diagram", "verify_architectures"]
