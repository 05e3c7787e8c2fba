"""rnn-oracle: are your recurrent-network gradients right — and if not, why?

Importing this package imports NumPy only; torch and JAX load when a backend asks.
"""

from rnn_oracle import _packages  # noqa: F401  (first: checks conventions and backends are ours)
from rnn_oracle.architectures import (
    ARCHITECTURES,
    NETWORK_CELLS,
    NetworkCase,
    NetworkSpec,
    make_network_case,
    network_reference,
)
from rnn_oracle.case import Case, make_case
from rnn_oracle.compare import Discrepancy, discrepancy, tolerance
from rnn_oracle.derivations import METHODS, Reference
from rnn_oracle.derivations.finite_difference import DirectionalCheck, directional_check
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle import (
    GradientMismatch,
    GradientReport,
    assert_gradients_match,
    check_gradients,
    check_network_gradients,
)
from rnn_oracle.params import PRESETS, ParamConvention, get_convention
from rnn_oracle.reference import reference
from rnn_oracle.spec import PARAM_NAMES, RNNSpec
from rnn_oracle.verify import VerifyReport, verify

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "METHODS",
    "NETWORK_CELLS",
    "PARAM_NAMES",
    "PRESETS",
    "Case",
    "DirectionalCheck",
    "Discrepancy",
    "GradientMismatch",
    "GradientReport",
    "NetworkCase",
    "NetworkSpec",
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
