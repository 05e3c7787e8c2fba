"""``network_reference(case, backend, method)``: the gradient of a network case, one named
way, with the same :class:`~rnn_oracle.Reference` result as the single-layer methods.

Methods (:data:`NETWORK_METHODS`):

* ``bptt`` — hand BPTT of the whole network (:mod:`rnn_oracle.architectures.bptt`);
* ``layerwise`` — the single-layer ``bptt`` variant applied block by block: each block is
  a layer-mode single-layer case whose upstream is ``∂J/∂h_t`` from the head or the layer
  above, chained by hand (:mod:`rnn_oracle.architectures.layerwise`);
* ``jacobian_chain``, ``kronecker``, ``differential``, ``einsum``, ``rtrl`` — the
  single-layer variant of that name applied block by block, in the same way; the network
  methods share the single-layer names so that a verify matrix has one row per variant;
* ``finite_difference``, ``complex_step`` (NumPy), ``autodiff`` and ``autodiff_forward``
  (torch, JAX) — of the whole network's loss.

The block-by-block methods are defined for vanilla cells in every architecture except
one_to_many with feedback; elsewhere (GRU, LSTM, feedback, rtrl over its memory budget)
they raise :class:`~rnn_oracle.OracleError` with a message starting ``"n/a: "``.

A cell without a hand BPTT (any :class:`~rnn_oracle.Cell` but the vanilla, GRU and LSTM
ones) has no ``bptt`` (n/a); its references differentiate its step function:
``complex_step`` (NumPy; an analytic step), ``autodiff``/``autodiff_forward`` (torch,
JAX), ``finite_difference``, and one method outside the verify matrix
(:data:`CELL_METHODS`):

* ``stepwise`` — the BPTT sweep of :mod:`rnn_oracle.architectures.bptt` whose every step's
  derivatives come from the cell's step function
  (:func:`~rnn_oracle.architectures.cell_derivatives.step_vjp`: complex step, or autodiff
  for ``analytic=False``), on NumPy. For a hand-BPTT cell it runs the cell's interface
  step, so it checks the hand BPTT against the interface.

:func:`checking_reference` is what the oracle compares a user's gradients with: ``bptt``
where the cell has one, else ``stepwise``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends import Backend, BackendError, get_backend
from rnn_oracle.architectures import bptt, layerwise
from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.layerwise import METHOD_NAMES
from rnn_oracle.architectures.model import forward
from rnn_oracle.derivations._compiled import compiled, part_of, together, traced_stand_in
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import OracleError
from rnn_oracle.model import loss_weight, one_hot

Array = Any

#: method -> capability the backend must have (None: every backend).
NETWORK_METHODS: dict[str, str | None] = {
    "bptt": None,
    **{name: None for name in METHOD_NAMES.values()},
    "finite_difference": None,
    "complex_step": "complex",
    "autodiff": "reverse",
    "autodiff_forward": "forward",
}


#: Methods :func:`network_reference` takes beyond :data:`NETWORK_METHODS` (not in the
#: verify matrix: a per-step complex-step sweep is slow beside the hand BPTT it checks).
CELL_METHODS: tuple[str, ...] = ("stepwise",)


@dataclass(frozen=True)
class OnBackend:
    """A network case's arrays on one backend."""

    backend: Backend
    arrays: dict[str, Array]
    targets: Array | None  #: one-hot (softmax_ce) or dense (linear_mse) rows
    upstream: Array | None
    out_len: int


def on_backend(case: NetworkCase, backend: Backend, dtype: str | None = None) -> OnBackend:
    dtype = dtype or case.dtype
    traced = traced_stand_in(case, dtype)
    if traced is not None:  # inside the trace of a compiled derivation: its arguments
        return traced
    arrays = {n: backend.asarray(v, dtype) for n, v in case.arrays.items()}
    targets = None
    if case.spec.head == "softmax_ce":
        targets = one_hot(backend.xp, backend.asarray(case.targets), case.spec.n_y,
                          backend.dtype(dtype))
    elif case.spec.head == "linear_mse":
        targets = backend.asarray(case.targets, dtype)
    upstream = None if case.upstream is None else backend.asarray(case.upstream, dtype)
    return OnBackend(backend, arrays, targets, upstream, case.out_len)


def loss_of(case: NetworkCase, on: OnBackend) -> Callable[[Mapping[str, Array]], Array]:
    """``J`` as a function of a mapping of every differentiable array."""

    def loss(arrays: Mapping[str, Array]) -> Array:
        return forward(case.spec, arrays, on.backend.xp, targets=on.targets,
                       upstream=on.upstream, out_len=on.out_len).loss

    return loss


def _positional(case: NetworkCase, on: OnBackend) -> Callable[..., Array]:
    loss = loss_of(case, on)
    names = case.input_names

    def positional(*arrays: Array) -> Array:
        return loss(dict(zip(names, arrays, strict=True)))

    return positional


def term_magnitude(case: NetworkCase) -> float:
    """``|w| T_out B``: the summed weight of the per-sample step losses (for the rounding
    part of a finite difference's error estimate)."""
    weight = abs(loss_weight(case.spec, case.out_len, case.batch))
    return weight * case.out_len * (case.batch or 1)


def _no_hand_bptt(case: NetworkCase) -> OracleError:
    return OracleError(
        f"n/a: bptt is the hand BPTT of the vanilla, GRU and LSTM cells; cell "
        f"{case.spec.cell_name!r} has none. Its references differentiate its step: "
        "'stepwise' or 'complex_step' (NumPy), 'autodiff' (torch, JAX)"
    )


@compiled(on_backend)
def _bptt(case: NetworkCase, be: Backend) -> Reference:
    on = on_backend(case, be)
    loss, grads = bptt.gradients(case.spec, on.arrays, be.xp, targets=on.targets,
                                 upstream=on.upstream, out_len=on.out_len)
    return Reference("bptt", be.name, case.dtype, loss, grads)


def _blockwise(variant: str) -> Callable[[NetworkCase, Backend], Reference]:
    """The runner of single-layer ``variant`` applied block by block."""

    def run(case: NetworkCase, be: Backend) -> Reference:
        return layerwise.gradients(case, be, variant)

    run.__name__ = f"_blockwise_{variant}"
    return run


@compiled(on_backend)
def _autodiff(case: NetworkCase, be: Backend) -> Reference:
    from rnn_oracle.derivations.autodiff import reverse_mode

    on = on_backend(case, be)
    loss, grads = reverse_mode(_positional(case, on), on.arrays, be)
    return Reference("autodiff", be.name, case.dtype, loss, grads)


@compiled(on_backend)
def _autodiff_forward(case: NetworkCase, be: Backend) -> Reference:
    from rnn_oracle.derivations.autodiff import forward_mode

    on = on_backend(case, be)
    loss, grads = forward_mode(_positional(case, on), on.arrays, be)
    return Reference("autodiff_forward", be.name, case.dtype, loss, grads)


def _finite_difference(case: NetworkCase, be: Backend) -> Reference:
    from rnn_oracle.derivations.finite_difference import central_differences, row_losses

    f = row_losses(loss_of, case, on_backend(case, be),
                   {n: v.shape for n, v in case.arrays.items()})
    loss, grads, errors = central_differences(f, case.arrays, case.dtype, term_magnitude(case))
    return Reference(
        "finite_difference", be.name, case.dtype, be.asarray(loss, case.dtype),
        {n: be.asarray(g, case.dtype) for n, g in grads.items()},
        error={n: be.asarray(e, case.dtype) for n, e in errors.items()},
    )


def _stepwise(case: NetworkCase, be: Backend) -> Reference:
    if be.name != "numpy":
        raise OracleError(
            f"n/a: stepwise differentiates each step on NumPy, not on {be.name!r}"
        )
    on = on_backend(case, be)
    loss, grads = bptt.gradients(case.spec, on.arrays, be.xp, targets=on.targets,
                                 upstream=on.upstream, out_len=on.out_len, stepwise=True)
    return Reference("stepwise", be.name, case.dtype, be.asarray(loss, case.dtype),
                     {n: be.asarray(g, case.dtype) for n, g in grads.items()})


def _require_analytic(case: NetworkCase) -> None:
    """Refuse complex step of a cell whose step is not analytic (declared or found)."""
    spec = case.spec
    if spec.hand_bptt:
        return
    cell = spec.cell_def
    if not cell.analytic:
        raise OracleError(
            f"n/a: complex_step: cell {cell.name!r} is declared analytic=False; use "
            "'autodiff' (torch, JAX) or 'stepwise', which differentiates it by autodiff"
        )
    from rnn_oracle.architectures.cell_derivatives import require_analytic
    from rnn_oracle.architectures.model import block_params

    block = spec.blocks()[0]
    p = block_params(case.arrays, block)
    prev = tuple(case.arrays[f"{block.prefix}{s}0"] for s in spec.state_names)
    require_analytic(cell, p, prev, case.arrays["inputs"][0])


def _complex_step(case: NetworkCase, be: Backend) -> Reference:
    from rnn_oracle.derivations.complex_step import complex_step, require_complex

    require_complex(be)
    _require_analytic(case)
    on = on_backend(case, be, dtype="float64")
    value, grads = complex_step(loss_of(case, on), case.arrays)
    return Reference(
        "complex_step", be.name, case.dtype, be.asarray(value, case.dtype),
        {n: be.asarray(g, case.dtype) for n, g in grads.items()},
    )


_RUNNERS: dict[str, Callable[[NetworkCase, Backend], Reference]] = {
    "bptt": _bptt,
    **{name: _blockwise(variant) for variant, name in METHOD_NAMES.items()},
    "finite_difference": _finite_difference,
    "complex_step": _complex_step,
    "autodiff": _autodiff,
    "autodiff_forward": _autodiff_forward,
    "stepwise": _stepwise,
}


@contextlib.contextmanager
def network_computed_together(
    case: NetworkCase, backend: str | Backend, methods: Sequence[str]
) -> Iterator[None]:
    """Within the block, :func:`network_reference` of ``case`` on ``backend`` by any of
    ``methods`` that compile (on JAX) is served from one program computing them all (the
    block-by-block variants: their network pass, and each block by all of them at once,
    :func:`~rnn_oracle.architectures.layerwise.blocks_together`); the same answers,
    compiled once instead of once per method. Elsewhere the block changes nothing."""
    be = get_backend(backend)
    parts = [part for m in methods if m in _RUNNERS and (m != "bptt" or case.spec.hand_bptt)
             if (part := part_of(_RUNNERS[m])) is not None]
    variants = [v for v, name in METHOD_NAMES.items() if name in methods]
    if variants and layerwise.not_applicable(case, "bptt") is None:
        parts.append(layerwise.network_pass())
    with be.precision(case.dtype), together(case, be, parts), layerwise.blocks_together(
        variants
    ):
        yield


def network_reference(
    case: NetworkCase, backend: str | Backend = "numpy", method: str = "bptt"
) -> Reference:
    """Loss and gradients of a network case by ``method`` on ``backend``.

    Methods: see the module docstring (:data:`NETWORK_METHODS`). Gradients are keyed like
    ``case.arrays``. A method that is not defined for the case (a block-by-block variant on
    a GRU, say) raises :class:`~rnn_oracle.OracleError` starting ``"n/a: "``.
    """
    if not isinstance(case, NetworkCase):
        raise OracleError(
            f"network_reference: case must be a NetworkCase, got {type(case).__name__}"
        )
    if method not in NETWORK_METHODS and method not in CELL_METHODS:
        raise OracleError(
            f"network_reference: unknown method {method!r}; known methods are "
            f"{', '.join((*NETWORK_METHODS, *CELL_METHODS))}"
        )
    try:
        be = get_backend(backend)
    except BackendError as exc:
        raise OracleError(f"network_reference: {exc}") from exc
    if method == "bptt" and not case.spec.hand_bptt:
        raise _no_hand_bptt(case)
    capability = NETWORK_METHODS.get(method)
    if capability is not None and capability not in be.capabilities:
        raise OracleError(
            f"network_reference: method {method!r} needs the {capability!r} capability, "
            f"which backend {be.name!r} lacks"
        )
    with be.precision(case.dtype):
        return _RUNNERS[method](case, be)


def checking_method(case: NetworkCase) -> str:
    """The NumPy method the oracle judges ``case`` by: ``bptt`` where the cell has a hand
    BPTT, else ``stepwise`` (its step differentiated step by step)."""
    return "bptt" if case.spec.hand_bptt else "stepwise"


def checking_reference(case: NetworkCase) -> Reference:
    """:func:`network_reference` of ``case`` on NumPy by :func:`checking_method`."""
    return network_reference(case, "numpy", checking_method(case))
