"""Complex-step differentiation: ``∂J/∂θ_i = Im J(θ + i h e_i) / h``.

No difference of nearby values is taken, so there is no cancellation and ``h`` can be
tiny (here ``1e-30``): the result is exact to rounding. It needs a loss that is analytic
in every entry — the model is written so (a softmax shifted by a real constant; relu
compares real parts) — and complex arithmetic, which only the NumPy backend is used for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from backends import Backend
from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.errors import OracleError
from rnn_oracle.model import loss_function

STEP = 1e-30


def gradients(case: Case, backend: Backend) -> Reference:
    """Every gradient entry by complex step, in complex128."""
    require_complex(backend)
    on = to_backend(case, backend, dtype="float64")
    loss = loss_function(
        case.spec, backend.xp, inputs=on.index_inputs, targets=on.targets, upstream=on.upstream
    )
    value, grads = complex_step(loss, case.arrays())
    return Reference(
        method="complex_step",
        backend=backend.name,
        dtype=case.dtype,
        loss=backend.asarray(value, case.dtype),
        grads={n: backend.asarray(g, case.dtype) for n, g in grads.items()},
    )


def require_complex(backend: Backend) -> None:
    if "complex" not in backend.capabilities:
        raise OracleError(
            f"complex_step: runs on the numpy backend only, not {backend.name!r} "
            "(it needs complex arithmetic through the whole model)"
        )


def complex_step(
    loss: Callable[[dict[str, np.ndarray]], Any], arrays: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``J`` and every gradient entry of a NumPy loss of named arrays, in complex128."""
    base = {n: np.array(v, dtype=np.complex128) for n, v in arrays.items()}
    grads: dict[str, np.ndarray] = {}
    for name, value in base.items():
        grad = np.empty(value.shape, dtype=np.float64)
        for index in np.ndindex(value.shape):
            perturbed = value.copy()
            perturbed[index] += 1j * STEP
            grad[index] = np.imag(loss({**base, name: perturbed})) / STEP
        grads[name] = grad
    return np.real(loss(base)), grads
