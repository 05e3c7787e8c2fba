"""The one error type of :mod:`rnn_oracle`."""

from __future__ import annotations


class OracleError(ValueError):
    """Bad input to the oracle: a spec, case, array or option that cannot be used.

    The message names the offending parameter or position, what was expected and what came.
    """
