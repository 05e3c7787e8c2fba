"""``scan``: one step function run over time, in the loop form each framework runs best.

The recurrences (the forward pass, BPTT's backward sweep) are written once as a step
``carry, y_t = step(carry, x_t)``; how the loop runs differs by framework:

* NumPy and torch: a Python loop over ``xp.unstack(xs)``. For torch this is
  ``Tensor.unbind``, whose backward stacks the T step gradients once; indexing ``xs[t]``
  instead gives each step's backward its own ``(T, …)`` zero tensor to scatter into,
  which makes reverse mode O(T²).
* JAX inside a compiled program (:func:`staged`): ``lax.scan``, one traced step whatever
  T is. Eager JAX keeps the Python loop: a ``lax.scan`` outside ``jit`` is traced and
  compiled again on every call (about 0.2 s), far more than T eager steps cost.

Nothing here imports a framework until an array of that framework arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import array_api_compat

Array = Any
#: An array or a tuple of arrays, time on axis 0 (``xs``), or one step of them.
Tree = Any

_STAGED: ContextVar[bool] = ContextVar("staged", default=False)


@contextmanager
def staged() -> Iterator[None]:
    """Within the block, JAX loops become ``lax.scan``: set while a compiled program is
    traced (:mod:`rnn_oracle.derivations._compiled`), so the scan compiles with it, once."""
    token = _STAGED.set(True)
    try:
        yield
    finally:
        _STAGED.reset(token)


def scan(
    xp: Any,
    step: Callable[[Tree, Tree], tuple[Tree, Tree]],
    init: Tree,
    xs: Tree,
    *,
    reverse: bool = False,
    unrolled: bool = False,
) -> tuple[Tree, Tree]:
    """Run ``carry, y = step(carry, x_t)`` over axis 0 of ``xs`` (an array or a tuple of
    arrays); return the last carry and the ys stacked on axis 0, in time order (an array,
    or a tuple of arrays if ``step`` returns a tuple).

    ``reverse`` visits ``t = T-1 … 0``. ``unrolled`` forces the Python loop, for a step
    with per-call side effects (the policy's rounding hook) that tracing would run once.
    """
    if not unrolled and _STAGED.get() and array_api_compat.is_jax_namespace(xp):
        import jax

        return jax.lax.scan(step, init, xs, reverse=reverse)
    as_tuple = isinstance(xs, tuple)
    columns = [unstack(xp, a) for a in (xs if as_tuple else (xs,))]
    steps = list(zip(*columns, strict=True))
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    if array_api_compat.is_numpy_namespace(xp):
        return _into_stacks(xp, step, init, steps, order, as_tuple)
    carry, ys = init, []
    for t in order:
        carry, y = step(carry, steps[t] if as_tuple else steps[t][0])
        ys.append(y)
    if reverse:
        ys.reverse()
    if ys and isinstance(ys[0], tuple):
        return carry, tuple(xp.stack(list(col), axis=0) for col in zip(*ys, strict=True))
    return carry, xp.stack(ys, axis=0)


def _into_stacks(
    xp: Any,
    step: Callable[[Tree, Tree], tuple[Tree, Tree]],
    init: Tree,
    steps: list[tuple[Array, ...]],
    order: range,
    as_tuple: bool,
) -> tuple[Tree, Tree]:
    """NumPy: each step's ys are written into stacks allocated once.

    A list of T per-step arrays kept until one final stack takes T fresh blocks from the
    heap, which the allocator gives back to the system when they are freed: at T = 1024
    (B = 32, n_h = 256) that is 64 000 page faults a call, a quarter of its time. Written
    into a stack at once, each step's arrays die young and their memory is reused.
    """
    carry, stacks = init, None
    for t in order:
        carry, y = step(carry, steps[t] if as_tuple else steps[t][0])
        parts = tuple(xp.asarray(part) for part in (y if isinstance(y, tuple) else (y,)))
        if stacks is None:
            stacks = tuple(xp.empty((len(steps), *p.shape), dtype=p.dtype) for p in parts)
        for stack, part in zip(stacks, parts, strict=True):
            stack[t] = part
    assert stacks is not None, "scan over no steps"
    return carry, stacks if isinstance(y, tuple) else stacks[0]


def unstack(xp: Any, stack: Array) -> tuple[Array, ...]:
    """The steps of a ``(T, …)`` stack: torch's ``unbind`` (one backward node for all T),
    never T indexings (each a ``(T, …)`` zero tensor in the backward pass)."""
    # ``unstack`` is array API 2023.12; plain NumPy < 2.1 (some callers pass ``np`` itself)
    # lacks it, and iterating an array gives the same views.
    if array_api_compat.is_torch_array(stack):
        # Tensor.unbind itself: array-api-compat's unstack goes through moveaxis, which
        # torch.vmap (batched finite differences) cannot batch.
        return tuple(stack.unbind(0))
    unstack = getattr(xp, "unstack", None)
    return tuple(unstack(stack, axis=0)) if unstack is not None else tuple(stack)
