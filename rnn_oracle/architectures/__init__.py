"""Architectures beyond one vanilla layer — many-to-one, one-to-many, encoder–decoder,
stacked, bidirectional, deep bidirectional — and the cells: vanilla, GRU and LSTM with a
hand BPTT, more built-ins, and your own (:class:`Cell`).

The public names load on first use (PEP 562), as in :mod:`rnn_oracle`: a check imports
the spec, case and reference modules it needs, not the verify matrix or the diagram.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "ARCHITECTURES": "rnn_oracle.architectures.spec",
    "BUILTIN_CELLS": "rnn_oracle.architectures.builtin_cells",
    "Cell": "rnn_oracle.architectures.cell_interface",
    "CELL_METHODS": "rnn_oracle.architectures.reference",
    "GATES": "rnn_oracle.architectures.spec",
    "NETWORK_CELLS": "rnn_oracle.architectures.spec",
    "Block": "rnn_oracle.architectures.spec",
    "NetworkSpec": "rnn_oracle.architectures.spec",
    "NetworkCase": "rnn_oracle.architectures.case",
    "make_network_case": "rnn_oracle.architectures.case",
    "NETWORK_METHODS": "rnn_oracle.architectures.reference",
    "network_reference": "rnn_oracle.architectures.reference",
    "diagram": "rnn_oracle.architectures._diagram",
    "ArchitecturesReport": "rnn_oracle.architectures.verify",
    "default_entries": "rnn_oracle.architectures.verify",
    "verify_architectures": "rnn_oracle.architectures.verify",
}

#: Kept equal to ``_EXPORTS`` (tests/rnn_oracle/architectures/test_spec.py).
__all__ = [
    "ARCHITECTURES",
    "BUILTIN_CELLS",
    "CELL_METHODS",
    "GATES",
    "NETWORK_CELLS",
    "NETWORK_METHODS",
    "ArchitecturesReport",
    "Block",
    "Cell",
    "NetworkCase",
    "NetworkSpec",
    "default_entries",
    "diagram",
    "make_network_case",
    "network_reference",
    "verify_architectures",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnn_oracle.architectures' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what the names are, for type checkers and the API reference
    from rnn_oracle.architectures._diagram import diagram
    from rnn_oracle.architectures.builtin_cells import BUILTIN_CELLS
    from rnn_oracle.architectures.case import NetworkCase, make_network_case
    from rnn_oracle.architectures.cell_interface import Cell
    from rnn_oracle.architectures.reference import (
        CELL_METHODS,
        NETWORK_METHODS,
        network_reference,
    )
    from rnn_oracle.architectures.spec import (
        ARCHITECTURES,
        GATES,
        NETWORK_CELLS,
        Block,
        NetworkSpec,
    )
    from rnn_oracle.architectures.verify import (
        ArchitecturesReport,
        default_entries,
        verify_architectures,
    )
