"""rnn-oracle: are your recurrent-network gradients right — and if not, why?

``import rnn_oracle`` imports nothing but this file: the public names load on first use
(PEP 562), so the pytest plugin costs nothing at start-up and a project's own
``backends/`` or ``conventions/`` folder cannot break pytest there. NumPy loads with the
first public name; torch and JAX load when a backend asks for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "ARCHITECTURES": "rnn_oracle.architectures",
    "Cell": "rnn_oracle.architectures",
    "NETWORK_CELLS": "rnn_oracle.architectures",
    "NetworkCase": "rnn_oracle.architectures",
    "NetworkSpec": "rnn_oracle.architectures",
    "make_network_case": "rnn_oracle.architectures",
    "network_reference": "rnn_oracle.architectures",
    "Case": "rnn_oracle.case",
    "make_case": "rnn_oracle.case",
    "Discrepancy": "rnn_oracle.compare",
    "discrepancy": "rnn_oracle.compare",
    "tolerance": "rnn_oracle.compare",
    "METHODS": "rnn_oracle.derivations",
    "Reference": "rnn_oracle.derivations",
    "DirectionalCheck": "rnn_oracle.derivations.finite_difference",
    "directional_check": "rnn_oracle.derivations.finite_difference",
    "ExitCode": "rnn_oracle.errors",
    "NotJudgedError": "rnn_oracle.errors",
    "OracleError": "rnn_oracle.errors",
    "GradientMismatch": "rnn_oracle.oracle",
    "GradientReport": "rnn_oracle.oracle",
    "assert_gradients_match": "rnn_oracle.oracle",
    "check_gradients": "rnn_oracle.oracle",
    "check_network_gradients": "rnn_oracle.oracle",
    "PRESETS": "rnn_oracle.params",
    "ParamConvention": "rnn_oracle.params",
    "get_convention": "rnn_oracle.params",
    "reference": "rnn_oracle._reference",
    "PARAM_NAMES": "rnn_oracle.spec",
    "RNNSpec": "rnn_oracle.spec",
    "VerifyReport": "rnn_oracle._verify",
    "verify": "rnn_oracle._verify",
}

#: Kept equal to ``_EXPORTS`` and ``__version__`` (tests/test_import.py).
__all__ = [
    "ARCHITECTURES",
    "METHODS",
    "NETWORK_CELLS",
    "PARAM_NAMES",
    "PRESETS",
    "Case",
    "Cell",
    "DirectionalCheck",
    "Discrepancy",
    "ExitCode",
    "GradientMismatch",
    "GradientReport",
    "NetworkCase",
    "NetworkSpec",
    "NotJudgedError",
    "OracleError",
    "ParamConvention",
    "RNNSpec",
    "Reference",
    "VerifyReport",
    "__version__",
    "assert_gradients_match",
    "check_gradients",
    "check_network_gradients",
    "directional_check",
    "discrepancy",
    "get_convention",
    "make_case",
    "make_network_case",
    "network_reference",
    "reference",
    "tolerance",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rnn_oracle' has no attribute {name!r}")
    from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what the names are, for type checkers and the API reference
    from rnn_oracle._reference import reference
    from rnn_oracle._verify import VerifyReport, verify
    from rnn_oracle.architectures import (
        ARCHITECTURES,
        NETWORK_CELLS,
        Cell,
        NetworkCase,
        NetworkSpec,
        make_network_case,
        network_reference,
    )
    from rnn_oracle.case import Case, make_case
    from rnn_oracle.compare import Discrepancy, discrepancy, tolerance
    from rnn_oracle.derivations import METHODS, Reference
    from rnn_oracle.derivations.finite_difference import DirectionalCheck, directional_check
    from rnn_oracle.errors import ExitCode, NotJudgedError, OracleError
    from rnn_oracle.oracle import (
        GradientMismatch,
        GradientReport,
        assert_gradients_match,
        check_gradients,
        check_network_gradients,
    )
    from rnn_oracle.params import PRESETS, ParamConvention, get_convention
    from rnn_oracle.spec import PARAM_NAMES, RNNSpec
