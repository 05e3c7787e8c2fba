"""The derivatives of one step of a :class:`~rnn_oracle.Cell`, with no hand derivation.

:func:`step_vjp` is what a backward sweep needs from a step — ``∂J/∂`` of the
parameters, the previous state and the input, given ``∂J/∂`` of the new state — for a
cell that has no hand BPTT. It is computed on NumPy arrays, one of two ways:

* complex step (an analytic step; the default): every entry of every argument in turn is
  moved by ``i h`` (``h = 1e-30``) and the imaginary part of the new state read off —
  exact to rounding, in complex128 for a float64 step and complex64 for a float32 one
  (so that a float32 rerun rounds like float32 code);
* autodiff (a cell declared ``analytic=False``): one reverse pass of
  ``Σ ⟨∂J/∂state', step(...)⟩`` on torch, or on JAX without torch, in the arrays' dtype.

:func:`require_analytic` guards complex step: along one random direction it compares the
complex-step derivative of the step with a central difference, and refuses a step that is
not analytic (``abs``, ``max``, ``xp.real``: complex step would be silently wrong).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np

from rnn_oracle.architectures.cell_interface import Cell
from rnn_oracle.errors import OracleError
from rnn_oracle.model import rounding_active

Array = Any
STEP = 1e-30  #: the complex step (as :mod:`rnn_oracle.derivations.complex_step`)


def _complex_dtype(*arrays: np.ndarray) -> type:
    real = np.result_type(*arrays)
    return np.complex64 if real == np.float32 else np.complex128


def autodiff_backend_name() -> str | None:
    """The backend that differentiates a non-analytic cell: torch, else JAX, else None."""
    for name in ("torch", "jax"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def require_analytic(
    cell: Cell, p: Mapping[str, np.ndarray], prev: tuple[np.ndarray, ...], x: np.ndarray
) -> None:
    """Refuse a step that complex step cannot differentiate (see the module docstring).

    Not inside :func:`~rnn_oracle.model.rounded_nonlinearities`: there the nonlinearities
    are jittered on purpose (the oracle's drift reruns, which follow a float64 reference
    of the same case that has passed this test), and a central difference would read the
    jitter."""
    if rounding_active():
        return
    args = [np.asarray(v, dtype=np.float64) for v in (*p.values(), *prev, x)]
    rng = np.random.default_rng(20_241_002)
    direction = [rng.standard_normal(a.shape) for a in args]
    names, n_p, n_s = list(p), len(p), len(prev)

    def at(values: list[Any]) -> float | complex:
        params = dict(zip(names, values[:n_p], strict=True))
        out = cell.run_step(params, tuple(values[n_p:n_p + n_s]), values[-1], np)
        weights = np.random.default_rng(7).standard_normal(sum(o.size for o in out))
        return complex(np.dot(np.concatenate([np.ravel(o) for o in out]), weights))

    try:
        cs = at([a.astype(np.complex128) + 1j * STEP * d
                 for a, d in zip(args, direction, strict=True)]).imag / STEP
    except OracleError as exc:
        raise OracleError(
            f"Cell {cell.name!r}: its step does not run on complex arrays, so complex step "
            f"cannot differentiate it ({exc}). Declare Cell(..., analytic=False): the "
            "oracle then differentiates it by torch or JAX autodiff."
        ) from exc
    eps = 1e-6
    plus = at([a + eps * d for a, d in zip(args, direction, strict=True)]).real
    minus = at([a - eps * d for a, d in zip(args, direction, strict=True)]).real
    fd = (plus - minus) / (2 * eps)
    scale = max(abs(fd), abs(cs), abs(at(list(args)).real), 1.0)
    # a central difference is good to ~1e-10 of scale here; a non-analytic step is off
    # by O(1) of it (abs flips the sign of the imaginary part, real() drops it)
    if not abs(cs - fd) <= 1e-6 * scale:
        raise OracleError(
            f"Cell {cell.name!r}: its step is not analytic (along one direction its "
            f"complex-step derivative is {cs:.6g}, a central difference says {fd:.6g}): it "
            "uses abs, max, a comparison of imaginary parts or real(), so complex step "
            "cannot differentiate it. Declare Cell(..., analytic=False): the oracle then "
            "differentiates it by torch or JAX autodiff."
        )


def step_vjp(
    cell: Cell,
    p: Mapping[str, np.ndarray],
    prev: tuple[np.ndarray, ...],
    x: np.ndarray,
    d_new: tuple[np.ndarray, ...],
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...], np.ndarray]:
    """``(∂J/∂params, ∂J/∂prev, ∂J/∂x)`` of one step, given ``d_new = ∂J/∂`` new state."""
    if cell.analytic:
        return _complex_step_vjp(cell, p, prev, x, d_new)
    return _autodiff_vjp(cell, p, prev, x, d_new)


def _complex_step_vjp(
    cell: Cell,
    p: Mapping[str, np.ndarray],
    prev: tuple[np.ndarray, ...],
    x: np.ndarray,
    d_new: tuple[np.ndarray, ...],
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...], np.ndarray]:
    real = [np.asarray(v) for v in (*p.values(), *prev, x)]
    cdt = _complex_dtype(*real)
    rdt = np.float32 if cdt == np.complex64 else np.float64
    base: list[np.ndarray] = [np.asarray(v, dtype=cdt) for v in real]
    names, n_p, n_s = list(p), len(p), len(prev)
    weights = [np.asarray(d, dtype=rdt) for d in d_new]
    out_grads = [np.zeros(v.shape, dtype=rdt) for v in base]
    for k, value in enumerate(base):
        for index in np.ndindex(value.shape):
            moved = value.copy()
            moved[index] += 1j * STEP
            args = [*base[:k], moved, *base[k + 1:]]
            new = cell.run_step(dict(zip(names, args[:n_p], strict=True)),
                                tuple(args[n_p:n_p + n_s]), args[-1], np)
            total = 0.0
            for w, s in zip(weights, new, strict=True):
                total += float(np.sum(np.multiply(w, np.imag(np.asarray(s)) / STEP)))
            out_grads[k][index] = total
    return (dict(zip(names, out_grads[:n_p], strict=True)),
            tuple(out_grads[n_p:n_p + n_s]), out_grads[-1])


def _autodiff_vjp(
    cell: Cell,
    p: Mapping[str, np.ndarray],
    prev: tuple[np.ndarray, ...],
    x: np.ndarray,
    d_new: tuple[np.ndarray, ...],
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...], np.ndarray]:
    from backends import get_backend

    name = autodiff_backend_name()
    if name is None:
        raise OracleError(
            f"n/a: Cell {cell.name!r} is declared analytic=False, so it is differentiated "
            "by autodiff, and neither torch nor JAX is installed"
        )
    be = get_backend(name)
    real = [np.asarray(v) for v in (*p.values(), *prev, x)]
    dtype = "float32" if np.result_type(*real) == np.float32 else "float64"
    names, n_p, n_s = list(p), len(p), len(prev)
    with be.precision(dtype):
        weights = [be.asarray(np.asarray(d), dtype) for d in d_new]

        def scalar(*args: Any) -> Any:
            new = cell.run_step(dict(zip(names, args[:n_p], strict=True)),
                                tuple(args[n_p:n_p + n_s]), args[-1], be.xp)
            return sum(be.xp.sum(w * s) for w, s in zip(weights, new, strict=True))

        _, grads = be.value_and_grad(scalar, [be.asarray(v, dtype) for v in real])
        out = [be.to_numpy(g) for g in grads]
    return (dict(zip(names, out[:n_p], strict=True)), tuple(out[n_p:n_p + n_s]), out[-1])
