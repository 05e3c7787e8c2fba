"""Central finite differences: entry by entry, and along one random direction.

The step for an entry ``θ_i`` is ``h_i = ε^{1/3} max(1, |θ_i|)`` with ``ε`` the machine
epsilon of the case's dtype — the step that balances the ``O(h²)`` truncation error of a
central difference against its ``O(ε/h)`` rounding error, both then ``O(ε^{2/3})``.

Each difference comes with an error estimate: Richardson's ``|D(h) − D(2h)| / 3`` for the
truncation error plus ``ε m / h`` for the rounding error, where ``m`` is the magnitude
of the terms that ``J`` sums: ``|J| + |w| T B`` (``w`` the weight of one per-sample step
loss; the per-sample step losses are O(1) for the scales :func:`make_case` draws). ``J``
can be far smaller than its terms (a mean-free sum cancels), so ``|J|`` alone would
underestimate the rounding error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends import Backend, backend_of
from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.errors import OracleError
from rnn_oracle.model import loss_function, loss_weight

Array = Any


def step_size(dtype: str) -> float:
    """The relative step ``ε^{1/3}`` for a dtype name."""
    return float(np.finfo(dtype).eps ** (1.0 / 3.0))


def _numpy_loss(case: Case, backend: Backend) -> Callable[[Mapping[str, np.ndarray]], float]:
    """``J`` as a float-valued function of NumPy arrays, evaluated on ``backend``."""
    on = to_backend(case, backend)
    loss = loss_function(
        case.spec,
        backend.xp,
        inputs=on.index_inputs,
        targets=on.targets,
        upstream=on.upstream,
    )
    return on_numpy(loss, backend, case.dtype)


def on_numpy(
    loss: Callable[[Mapping[str, Any]], Any], backend: Backend, dtype: str
) -> Callable[[Mapping[str, np.ndarray]], float]:
    """A loss of backend arrays as a float-valued function of NumPy arrays in ``dtype``.

    The loss is compiled where the backend compiles (JAX): a difference quotient calls it
    four times per entry with arrays of one shape, and eager JAX dispatch costs a
    thousand times more than the arithmetic of these small networks.
    """
    compiled = backend.jit(loss)

    def evaluate(arrays: Mapping[str, np.ndarray]) -> float:
        native = {name: backend.asarray(value, dtype) for name, value in arrays.items()}
        return float(backend.to_numpy(compiled(native)))

    return evaluate


def _term_magnitude(case: Case) -> float:
    """``|w| T B``: the summed weight of all per-sample step losses in ``J``."""
    weight = abs(loss_weight(case.spec, case.seq_len, case.batch))
    return weight * case.seq_len * (case.batch or 1)


def _central(
    f: Callable[[Mapping[str, np.ndarray]], float],
    base: Mapping[str, np.ndarray],
    direction: Mapping[str, np.ndarray],
    eps: float,
    magnitude: float,
) -> tuple[float, float]:
    """Central difference of ``f`` along ``direction`` (already scaled by the step ``h``),
    divided by ``h = 1``, with its error estimate."""

    def at(scale: float) -> float:
        return f({n: base[n] + scale * direction.get(n, 0.0) for n in base})

    f_p1, f_m1, f_p2, f_m2 = at(1.0), at(-1.0), at(2.0), at(-2.0)
    d1 = (f_p1 - f_m1) / 2.0
    d2 = (f_p2 - f_m2) / 4.0
    error = abs(d1 - d2) / 3.0 + eps * (max(abs(f_p1), abs(f_m1)) + magnitude)
    return d1, error


def gradients(case: Case, backend: Backend) -> Reference:
    """Every gradient entry by central differences (four loss evaluations per entry)."""
    f = _numpy_loss(case, backend)
    grads, errors = central_differences(f, case.arrays(), case.dtype, _term_magnitude(case))
    return Reference(
        method="finite_difference",
        backend=backend.name,
        dtype=case.dtype,
        loss=backend.asarray(f(case.arrays()), case.dtype),
        grads={n: backend.asarray(g, case.dtype) for n, g in grads.items()},
        error={n: backend.asarray(e, case.dtype) for n, e in errors.items()},
    )


def central_differences(
    f: Callable[[Mapping[str, np.ndarray]], float],
    arrays: Mapping[str, np.ndarray],
    dtype: str,
    magnitude: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every entry's central difference of ``f`` and its error estimate.

    ``magnitude`` is the size of the terms ``J`` sums (for the rounding part of the
    estimate); the steps are sized and rounded for ``dtype``.
    """
    base = {name: np.array(value, dtype=np.float64) for name, value in arrays.items()}
    eps = float(np.finfo(dtype).eps)
    rel_step = step_size(dtype)
    grads: dict[str, np.ndarray] = {}
    errors: dict[str, np.ndarray] = {}
    for name, value in base.items():
        grad = np.empty_like(value)
        err = np.empty_like(value)
        for index in np.ndindex(value.shape):
            h = rel_step * max(1.0, abs(float(value[index])))
            # Round the step so that θ ± h is exact in the dtype (a classic FD refinement).
            h = float(np.asarray(value[index] + h, dtype=dtype) - value[index])
            tangent = np.zeros_like(value)
            tangent[index] = h
            d, e = _central(f, base, {name: tangent}, eps, magnitude)
            grad[index] = d / h
            err[index] = e / h
        grads[name] = grad
        errors[name] = err
    return grads, errors


@dataclass(frozen=True)
class DirectionalCheck:
    """Compares ``⟨∇J, d⟩`` with a central difference of ``J`` along ``d``.

    ``d`` is a signed Gaussian direction over every differentiable array (unlike
    ``gradcheck``'s non-negative ``torch.rand`` directions, a sign error in one entry
    cannot hide behind the others), drawn from ``seed``.
    """

    seed: int
    analytic: float  #: ``Σ_θ ⟨∇_θ J, d_θ⟩`` from the gradients under test
    numeric: float  #: the central difference along ``d``
    error_estimate: float  #: estimated error of ``numeric``

    @property
    def abs_error(self) -> float:
        return abs(self.analytic - self.numeric)

    @property
    def passed(self) -> bool:
        """Within twice the difference's error estimate (plus rounding of the dot product)."""
        scale = max(abs(self.analytic), abs(self.numeric))
        return self.abs_error <= 2.0 * self.error_estimate + 1e-12 * scale


def direction(case: Case, seed: int) -> dict[str, np.ndarray]:
    """The seeded, signed Gaussian direction over ``case.input_names``, unit norm overall."""
    rng = np.random.default_rng(seed)
    parts = {n: rng.standard_normal(v.shape) for n, v in case.arrays().items()}
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in parts.values()))
    return {n: v / norm for n, v in parts.items()}


def directional_check(
    case: Case,
    grads: Mapping[str, Any],
    *,
    seed: int = 0,
    backend: str | Backend = "numpy",
) -> DirectionalCheck:
    """Check ``grads`` (any backend's arrays, keyed like ``case.input_names``) along one
    random direction: two loss evaluations instead of two per entry.
    """
    from backends import get_backend

    be = get_backend(backend)
    names = case.input_names
    missing = [n for n in names if n not in grads]
    if missing:
        raise OracleError(f"directional_check: grads lacks {missing}; expected {list(names)}")
    d = direction(case, seed)
    analytic = 0.0
    for n in names:
        g = np.asarray(backend_of(grads[n]).to_numpy(grads[n]), dtype=np.float64)
        if g.shape != d[n].shape:
            raise OracleError(
                f"directional_check: grads[{n!r}] has shape {g.shape}, expected {d[n].shape}"
            )
        analytic += float(np.sum(g * d[n]))
    base = {n: np.array(v, dtype=np.float64) for n, v in case.arrays().items()}
    scale = max(1.0, max(float(np.max(np.abs(v))) for v in base.values()))
    h = step_size(case.dtype) * scale
    eps = float(np.finfo(case.dtype).eps)
    with be.precision(case.dtype):
        numeric, error = _central(
            _numpy_loss(case, be), base, {n: h * v for n, v in d.items()}, eps,
            _term_magnitude(case),
        )
    return DirectionalCheck(
        seed=seed, analytic=analytic, numeric=numeric / h, error_estimate=error / h
    )
