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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends import Backend, backend_of
from rnn_oracle.case import Case
from rnn_oracle.derivations._compiled import (
    arguments,
    cached_program,
    compiles_here,
    program_key,
    with_arguments,
)
from rnn_oracle.derivations.base import OnBackend, Reference, to_backend
from rnn_oracle.errors import OracleError
from rnn_oracle.model import loss_function, loss_weight

Array = Any


def step_size(dtype: str) -> float:
    """The relative step ``ε^{1/3}`` for a dtype name."""
    return float(np.finfo(dtype).eps ** (1.0 / 3.0))


def _loss_of(case: Case, on: OnBackend) -> Callable[[Mapping[str, Any]], Any]:
    """``J`` of a case's differentiable arrays, the fixed data read from ``on``."""
    return loss_function(case.spec, on.backend.xp, inputs=on.index_inputs,
                         targets=on.targets, upstream=on.upstream)


#: ``loss_of(case, on)``: ``J`` of a case's differentiable arrays, its fixed data read from
#: ``on`` (the case's converted arrays, or their traced stand-ins).
LossOf = Callable[[Any, Any], Callable[[Mapping[str, Any]], Any]]


def row_losses(
    loss_of: LossOf, case: Any, on: Any, shapes: Mapping[str, tuple[int, ...]]
) -> Callable[[np.ndarray], np.ndarray]:
    """``J`` at each row of a ``(N, P)`` float64 matrix of flattened arrays (``shapes``,
    in order), evaluated on ``on``'s backend in the case's dtype.

    The rows are converted once per call, not once per evaluation, and evaluated as one
    vectorised call (``vmap``) where the backend has one; on a backend that compiles (JAX)
    that call is one program, compiled once per structure and row count.
    """
    backend = on.backend
    names = list(shapes)
    sizes = [math.prod(shapes[n]) for n in names]
    offsets = np.cumsum([0, *sizes]).tolist()

    def batch(data: list[Any], rows: Any) -> Any:
        loss = loss_of(case, with_arguments(on, data))

        def one(row: Any) -> Any:
            return loss({n: backend.xp.reshape(row[offsets[k]:offsets[k + 1]], shapes[n])
                         for k, n in enumerate(names)})

        return backend.vmap(one)(rows)

    data = arguments(on)

    def evaluate(points: np.ndarray) -> np.ndarray:
        program = batch
        if compiles_here(backend):
            # The program reads only the structure of ``case`` (loss_of uses its spec); the
            # row count is in the key, since a program has one shape.
            key = program_key(backend, (row_losses, loss_of, points.shape), case.spec, on)
            program = cached_program(key, lambda: backend.jit(batch))
        return backend.to_numpy(program(data, backend.asarray(points, case.dtype)))

    return evaluate


def _term_magnitude(case: Case) -> float:
    """``|w| T B``: the summed weight of all per-sample step losses in ``J``."""
    weight = abs(loss_weight(case.spec, case.seq_len, case.batch))
    return weight * case.seq_len * (case.batch or 1)


def _central(losses: np.ndarray, eps: float, magnitude: float) -> tuple[Any, Any]:
    """The central difference ``(J(θ+hd) − J(θ−hd)) / 2`` (not yet divided by ``h``) from
    the losses at ``θ ± hd`` and ``θ ± 2hd``, with its error estimate (Richardson's
    ``|D(h) − D(2h)| / 3`` plus rounding). ``losses[..., :4]`` are the losses at
    ``θ + h, θ − h, θ + 2h, θ − 2h`` (the order of :data:`_SCALES`)."""
    f_p1, f_m1, f_p2, f_m2 = (losses[..., k] for k in range(4))
    d1 = (f_p1 - f_m1) / 2.0
    d2 = (f_p2 - f_m2) / 4.0
    error = np.abs(d1 - d2) / 3.0 + eps * (np.maximum(np.abs(f_p1), np.abs(f_m1)) + magnitude)
    return d1, error


def gradients(case: Case, backend: Backend) -> Reference:
    """Every gradient entry by central differences (four loss evaluations per entry)."""
    arrays = case.arrays()
    f = row_losses(_loss_of, case, to_backend(case, backend),
                   {n: v.shape for n, v in arrays.items()})
    loss, grads, errors = central_differences(f, arrays, case.dtype, _term_magnitude(case))
    return Reference(
        method="finite_difference",
        backend=backend.name,
        dtype=case.dtype,
        loss=backend.asarray(loss, case.dtype),
        grads={n: backend.asarray(g, case.dtype) for n, g in grads.items()},
        error={n: backend.asarray(e, case.dtype) for n, e in errors.items()},
    )


#: The most bytes of perturbed points :func:`central_differences` holds at once.
POINTS_BUDGET_BYTES = 32 * 2**20

#: The perturbations of each entry, in units of its step: ``θ ± h``, ``θ ± 2h``.
_SCALES = np.array([1.0, -1.0, 2.0, -2.0])


def central_differences(
    f: Callable[[np.ndarray], np.ndarray],
    arrays: Mapping[str, np.ndarray],
    dtype: str,
    magnitude: float,
) -> tuple[float, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``J`` and every entry's central difference of ``J`` with its error estimate.

    ``f`` evaluates ``J`` at each row of a matrix of flattened arrays (:func:`row_losses`).
    ``magnitude`` is the size of the terms ``J`` sums (for the rounding part of the
    estimate); the steps are sized and rounded for ``dtype``.
    """
    base = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in arrays.values()])
    eps = float(np.finfo(dtype).eps)
    h = step_size(dtype) * np.maximum(1.0, np.abs(base))
    # Round the step so that θ ± h is exact in the dtype (a classic FD refinement).
    h = (base + h).astype(dtype).astype(np.float64) - base
    # Four rows per entry and θ itself last, in chunks of one size (a compiled evaluation
    # keeps its shape: the last chunk wraps around to entries already done).
    per_chunk = max(1, min(base.size, POINTS_BUDGET_BYTES // (4 * 8 * max(base.size, 1))))
    losses = np.empty((base.size, 4))
    for first in range(0, base.size, per_chunk):
        entries = np.repeat(np.arange(first, first + per_chunk) % base.size, 4)
        points = np.repeat(base[None, :], 4 * per_chunk + 1, axis=0)
        points[np.arange(entries.size), entries] += np.tile(_SCALES, per_chunk) * h[entries]
        values = np.asarray(f(points), dtype=np.float64)
        loss = float(values[-1])
        count = min(per_chunk, base.size - first)
        losses[first:first + count] = values[:-1].reshape(per_chunk, 4)[:count]
    d, err = _central(losses, eps, magnitude)
    grads: dict[str, np.ndarray] = {}
    errors: dict[str, np.ndarray] = {}
    offset = 0
    for name, value in arrays.items():
        part = slice(offset, offset + np.size(value))
        grads[name] = (d[part] / h[part]).reshape(np.shape(value))
        errors[name] = (err[part] / h[part]).reshape(np.shape(value))
        offset = part.stop
    return loss, grads, errors


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
    arrays = case.arrays()
    base = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in arrays.values()])
    scale = max(1.0, float(np.max(np.abs(base))))
    h = step_size(case.dtype) * scale
    along = np.concatenate([d[n].ravel() for n in arrays])
    points = base[None, :] + (_SCALES[:, None] * h) * along[None, :]
    eps = float(np.finfo(case.dtype).eps)
    with be.precision(case.dtype):
        f = row_losses(_loss_of, case, to_backend(case, be),
                       {n: v.shape for n, v in arrays.items()})
        numeric, error = _central(np.asarray(f(points), np.float64), eps, _term_magnitude(case))
    return DirectionalCheck(
        seed=seed, analytic=analytic, numeric=float(numeric) / h, error_estimate=float(error) / h
    )
