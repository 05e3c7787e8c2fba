"""How two gradients are compared: normwise relative error and tolerances per dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.errors import OracleError

#: Normwise relative tolerance for exact methods (hand BPTT, autodiff) against complex
#: step, in float64: a few hundred ulps of headroom over what T ≤ 50 steps accumulate.
FLOAT64_RTOL = 1e-10

#: Finite differences agree when every entry is within this many times its own error
#: estimate (the estimate is an order of magnitude, not a bound).
FD_ESTIMATE_FACTOR = 10.0


def tolerance(dtype: str, seq_len: int) -> float:
    """Normwise relative tolerance for an exact method computed in ``dtype``.

    float64: :data:`FLOAT64_RTOL`. float32: ``64 ε₃₂ √T`` — rounding errors of a T-step
    recursion grow like a random walk, and 64 ulps cover the dot products of one step.
    """
    if dtype == "float64":
        return FLOAT64_RTOL
    if dtype == "float32":
        return 64.0 * float(np.finfo(np.float32).eps) * float(np.sqrt(seq_len))
    raise OracleError(f"tolerance: dtype must be 'float32' or 'float64', got {dtype!r}")


@dataclass(frozen=True)
class Discrepancy:
    """The worst disagreement between two arrays."""

    error: float  #: ``max |a − b| / max(max |a|, max |b|)`` (0 when both are zero)
    index: tuple[int, ...]  #: where ``|a − b|`` is largest
    value: float  #: ``a`` there
    expected: float  #: ``b`` there


def discrepancy(actual: Any, expected: Any) -> Discrepancy:
    """Normwise relative error of ``actual`` against ``expected`` (NumPy arrays).

    Normwise, not entrywise: an entry that is zero up to rounding in one computation and
    ``1e-17`` in another is agreement, not an infinite relative error.
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise OracleError(f"compare: shapes differ, got {a.shape} against expected {b.shape}")
    if a.size == 0:
        return Discrepancy(0.0, (), 0.0, 0.0)
    diff = np.abs(a - b)
    if not np.all(np.isfinite(diff)):
        bad = np.unravel_index(int(np.argmax(~np.isfinite(diff))), a.shape)
        index = tuple(int(i) for i in bad)
        return Discrepancy(float("inf"), index, float(a[index]), float(b[index]))
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), a.shape))
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    error = 0.0 if scale == 0.0 else float(diff[index]) / scale
    return Discrepancy(error, index, float(a[index]), float(b[index]))
