"""The framework's own automatic differentiation of the model's loss (torch, JAX).

Two methods, both differentiating :func:`rnn_oracle.model.loss_function` — the same
forward pass every other method uses — with respect to every differentiable array of the
case (the parameters, ``h0`` and, unless they are class indices, the inputs):

* ``autodiff`` (:func:`gradients`): reverse mode, one backward pass
  (``torch.autograd.grad``, ``jax.value_and_grad``);
* ``autodiff_forward`` (:func:`forward_gradients`): forward mode. The arrays are packed
  into one flat vector ``θ`` and the ``(P,)`` Jacobian of ``J(θ)`` is taken with
  ``jacfwd`` (``torch.func.jacfwd``, ``jax.jacfwd``): one Jacobian-vector product per basis
  direction ``e_i``, batched by ``vmap``. It costs ``P`` forward passes' worth of work and
  shares no code path with reverse mode, which is why it is worth having as a cross-check.

Neither knows anything about RNNs; a mistake in the model shows up identically in both and
in hand BPTT, and only complex step or finite differences (which differentiate nothing)
can expose it. Results are in the backend's own array type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from backends import Backend
from rnn_oracle.case import Case, input_names
from rnn_oracle.derivations._compiled import compiled
from rnn_oracle.derivations.base import Reference, to_backend
from rnn_oracle.errors import OracleError
from rnn_oracle.model import loss_function
from rnn_oracle.spec import RNNSpec

Array = Any


def _loss_of_arrays(
    spec: RNNSpec, backend: Backend, index_inputs: Array, targets: Array, upstream: Array
) -> Callable[..., Array]:
    """``J(*arrays)``, the arrays positional in ``input_names`` order."""
    names = input_names(spec)
    loss = loss_function(
        spec, backend.xp, inputs=index_inputs, targets=targets, upstream=upstream
    )

    def positional(*arrays: Array) -> Array:
        return loss(dict(zip(names, arrays, strict=True)))

    return positional


def _reverse_program(spec: RNNSpec, backend: Backend) -> Callable[..., Any]:
    """Reverse mode of ``spec``'s loss as a function of a case's arrays on ``backend``: the
    program :func:`~rnn_oracle.derivations._compiled.compiled` traces (JAX)."""

    def run(
        arrays: dict[str, Array], index_inputs: Array, targets: Array, upstream: Array
    ) -> tuple[Array, dict[str, Array]]:
        loss = _loss_of_arrays(spec, backend, index_inputs, targets, upstream)
        # Traced, a dict arrives in sorted key order; the loss takes input_names order.
        return reverse_mode(loss, {n: arrays[n] for n in input_names(spec)}, backend)

    return run


def require(backend: Backend, capability: str, method: str) -> None:
    if capability not in backend.capabilities:
        raise OracleError(
            f"{method}: backend {backend.name!r} has no {capability!r} mode autodiff; "
            "use backend 'torch' or 'jax'"
        )


def reverse_mode(
    loss: Callable[..., Array], arrays: dict[str, Array], backend: Backend
) -> tuple[Array, dict[str, Array]]:
    """``J`` and its gradient with respect to every array, by one backward pass.

    ``loss`` takes the arrays positionally, in the order of ``arrays``.
    """
    names = list(arrays)
    value, grads = backend.value_and_grad(loss, [arrays[n] for n in names])
    return value, dict(zip(names, grads, strict=True))


def forward_mode(
    loss: Callable[..., Array], arrays: dict[str, Array], backend: Backend
) -> tuple[Array, dict[str, Array]]:
    """``J`` and its gradient by ``jacfwd`` over every array packed into one vector."""
    xp = backend.xp
    names = list(arrays)
    shapes = [tuple(arrays[n].shape) for n in names]
    sizes = [math.prod(s) for s in shapes]
    offsets = [sum(sizes[:k]) for k in range(len(sizes) + 1)]

    def of_flat(theta: Array) -> Array:
        parts = [
            xp.reshape(theta[offsets[k] : offsets[k + 1]], shapes[k]) for k in range(len(names))
        ]
        return loss(*parts)

    theta = xp.concat([xp.reshape(arrays[n], (-1,)) for n in names], axis=0)
    flat_grad = backend.jacobian(of_flat, theta, mode="forward")
    grads = {
        n: xp.reshape(flat_grad[offsets[k] : offsets[k + 1]], shapes[k])
        for k, n in enumerate(names)
    }
    return loss(*(arrays[n] for n in names)), grads


@compiled(to_backend)
def gradients(case: Case, backend: Backend) -> Reference:
    """Reverse mode: the loss and every gradient from one backward pass."""
    require(backend, "reverse", "autodiff")
    on = to_backend(case, backend)
    arrays = {n: on.arrays[n] for n in case.input_names}
    run = _reverse_program(case.spec, backend)
    value, grads = run(arrays, on.index_inputs, on.targets, on.upstream)
    return Reference(
        method="autodiff", backend=backend.name, dtype=case.dtype, loss=value,
        # A compiled program returns its dicts in sorted order; keep the canonical one.
        grads={n: grads[n] for n in case.input_names},
    )


@compiled(to_backend)
def forward_gradients(case: Case, backend: Backend) -> Reference:
    """Forward mode: ``jacfwd`` of the loss over all arrays packed into one vector."""
    require(backend, "forward", "autodiff_forward")
    require(backend, "jacobian", "autodiff_forward")
    on = to_backend(case, backend)
    arrays = {n: on.arrays[n] for n in case.input_names}
    loss = _loss_of_arrays(case.spec, backend, on.index_inputs, on.targets, on.upstream)
    value, grads = forward_mode(loss, arrays, backend)
    return Reference(
        method="autodiff_forward", backend=backend.name, dtype=case.dtype, loss=value,
        grads=grads,
    )
