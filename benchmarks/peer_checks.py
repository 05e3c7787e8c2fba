"""The peers' gradient checkers run on NumPy code with a hand-written backward.

``torch.autograd.gradcheck`` needs a ``torch.autograd.Function`` and
``jax.test_util.check_grads`` a ``jax.custom_vjp`` function; both wrappers here call the
same NumPy code (through ``jax.pure_callback`` for JAX), so every tool checks exactly what
``rnn_oracle.check_gradients`` checks. Used by ``bench_oracle.py`` (a loss) and
``bench_peers.py`` (a layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Arrays = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class HostFunction:
    """NumPy code as the peers see it: ``forward(*arrays) -> (output, residuals)`` and the
    hand-written ``backward(residuals, g) -> one gradient per array``, at ``arrays``."""

    forward: Callable[..., tuple[np.ndarray, Arrays]]
    backward: Callable[[Arrays, np.ndarray], Arrays]
    arrays: Arrays


def torch_gradcheck(fn: HostFunction, *, fast: bool) -> Callable[[], bool]:
    """A run of ``gradcheck`` on ``fn``; it returns whether the check failed."""
    import torch

    class Host(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *tensors: Any) -> Any:
            out, ctx.residuals = fn.forward(*(t.detach().numpy() for t in tensors))
            return torch.from_numpy(np.asarray(out, dtype=np.float64))

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            grads = fn.backward(ctx.residuals, g.detach().numpy())
            return tuple(torch.from_numpy(np.asarray(d, dtype=np.float64)) for d in grads)

    inputs = tuple(torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in fn.arrays)

    def run() -> bool:
        return not torch.autograd.gradcheck(Host.apply, inputs, fast_mode=fast,
                                            raise_exception=False)

    return run


def jax_check_grads(fn: HostFunction) -> Callable[[], bool]:
    """A run of ``check_grads`` (reverse mode, order 1) on ``fn``; it returns whether the
    check failed. A ``custom_vjp`` has no forward mode, so ``"fwd"`` is not checked."""
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    out, residuals = fn.forward(*fn.arrays)

    def host_forward(*arrays: Any) -> tuple[np.ndarray, ...]:
        value, res = fn.forward(*(np.asarray(a) for a in arrays))
        return (np.asarray(value, np.float64), *(np.asarray(r, np.float64) for r in res))

    def host_backward(*res_and_g: Any) -> tuple[np.ndarray, ...]:
        *res, g = (np.asarray(a) for a in res_and_g)
        return tuple(np.asarray(d, np.float64) for d in fn.backward(tuple(res), g))

    def checked() -> Callable[..., Any]:
        # Built with x64 on, where float64 result shapes stay float64.
        def spec(a: Any) -> Any:
            return jax.ShapeDtypeStruct(np.shape(a), jnp.float64)

        out_specs = (spec(out), *(spec(r) for r in residuals))
        grad_specs = tuple(spec(a) for a in fn.arrays)

        @jax.custom_vjp
        def f(*arrays: Any) -> Any:
            return jax.pure_callback(host_forward, out_specs, *arrays)[0]

        def f_fwd(*arrays: Any) -> Any:
            value, *res = jax.pure_callback(host_forward, out_specs, *arrays)
            return value, tuple(res)

        def f_bwd(res: Any, g: Any) -> Any:
            return jax.pure_callback(host_backward, grad_specs, *res, g)

        f.defvjp(f_fwd, f_bwd)
        return f

    def run() -> bool:
        # The global switch, not the scoped jax.enable_x64: a large enough program runs its
        # callbacks on XLA's own threads, which see only the global flag and would take
        # the float64 results for float32 ones. Restored on the way out.
        previous = bool(jax.config.jax_enable_x64)
        jax.config.update("jax_enable_x64", True)
        try:
            args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in fn.arrays)
            check_grads(checked(), args, order=1, modes=("rev",))
        except AssertionError:
            return True
        finally:
            jax.config.update("jax_enable_x64", previous)
        return False

    return run
