"""Complex-step differentiation: ``∂J/∂θ_i = Im J(θ + i h e_i) / h``.

No difference of nearby values is taken, so there is no cancellation and ``h`` can be
tiny (here ``1e-30``): the result is exact to rounding. It needs a loss that is analytic
in every entry — the model is written so (a softmax shifted by a real constant; relu
compares real parts) — and complex arithmetic, which only the NumPy backend is used for.
"""

from __future__ import annotations

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
    if "complex" not in backend.capabilities:
        raise OracleError(
            f"complex_step: runs on the numpy backend only, not {backend.name!r} "
            "(it needs complex arithmetic through the whole model)"
        )
    on = to_backend(case, backend, dtype="float64")
    loss = loss_function(
        case.spec, backend.xp, inputs=on.index_inputs, targets=on.targets, upstream=on.upstream
    )
    base = {n: np.array(v, dtype=np.complex128) for n, v in case.arrays().items()}
    grads: dict[str, Any] = {}
    for name, value in base.items():
        grad = np.empty(value.shape, dtype=np.float64)
        for index in np.ndindex(value.shape):
            perturbed = value.copy()
            perturbed[index] += 1j * STEP
            grad[index] = np.imag(loss({**base, name: perturbed})) / STEP
        grads[name] = backend.asarray(grad, case.dtype)
    return Reference(
        method="complex_step",
        backend=backend.name,
        dtype=case.dtype,
        loss=backend.asarray(np.real(loss(base)), case.dtype),
        grads=grads,
    )
