"""The PyTorch adapter: ``array_api_compat.torch`` as the namespace, autograd for gradients.

Importing this module imports torch; :func:`backends.get_backend` does so only on request.

Nothing here changes torch's global state: the default dtype is never set (every array
this adapter creates gets an explicit dtype, or the dtype of the data it came from), and
the default device is only read. Gradients are taken with ``torch.autograd.grad`` inside
``torch.enable_grad()`` so that a caller's ``torch.no_grad()`` block does not disable them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import array_api_compat.torch as torch_xp
import numpy as np
import torch

from backends.base import Backend
from backends.errors import BackendError
from backends.registry import DECLARED_CAPABILITIES


class TorchBackend(Backend):
    name: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = DECLARED_CAPABILITIES["torch"]
    extra: ClassVar[str] = "torch"
    _array_modules: ClassVar[tuple[str, ...]] = ("torch",)

    @property
    def xp(self) -> Any:
        return torch_xp

    @property
    def default_device(self) -> torch.device:
        """Where arrays go when no device is given: torch's own default (CPU unless the
        caller chose another with ``torch.set_default_device``)."""
        return torch.empty(0).device

    def asarray(self, value: Any, dtype: str | None = None, device: Any = None) -> Any:
        target = None if dtype is None else self.dtype(dtype)
        try:
            if isinstance(value, torch.Tensor):
                # clone(): a tensor given in must not share storage with the one given back.
                out = value.detach().clone()
            else:
                # Through NumPy, copying: a NumPy array keeps its dtype and its memory is never
                # shared (torch.as_tensor / from_numpy would alias it). Python floats become
                # float64, as on the NumPy backend, whatever torch's default dtype is.
                host = np.array(_host(value), copy=True)
                if host.dtype.kind not in "biufc":
                    raise TypeError(f"dtype {host.dtype} has no torch equivalent")
                out = torch.from_numpy(host)
            return out.to(dtype=target, device=device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"asarray: cannot convert {type(value).__name__} to a torch tensor "
                f"(dtype={dtype!r}, device={device!r}): {exc}"
            ) from exc

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            # force=True detaches, moves to CPU and resolves lazy conjugation/negation bits.
            return np.array(value.numpy(force=True), copy=True)
        try:
            return np.array(_host(value), copy=True)
        except (TypeError, ValueError) as exc:
            raise BackendError(f"to_numpy: cannot convert {type(value).__name__}: {exc}") from exc

    def vmap(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        # One batched call instead of a Python loop of eager calls: torch's per-operation
        # overhead is paid once for all rows, not once per row.
        return torch.func.vmap(fn)

    # -- autodiff -----------------------------------------------------------------------------
    def _value_and_grad(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        leaves = [_differentiable(a, "value_and_grad").detach().requires_grad_(True) for a in args]
        with torch.enable_grad():
            out = fn(*leaves)
            _check_scalar(out, "value_and_grad")
            grads = torch.autograd.grad(out, leaves, allow_unused=True)
        # An argument the function ignores has a zero gradient, not None.
        full = tuple(
            torch.zeros_like(leaf) if g is None else g
            for leaf, g in zip(leaves, grads, strict=True)
        )
        return out.detach(), tuple(g.detach() for g in full)

    def _jvp(
        self, fn: Callable[..., Any], args: tuple[Any, ...], tangents: tuple[Any, ...]
    ) -> tuple[Any, Any]:
        for a, t in zip(args, tangents, strict=True):
            _differentiable(a, "jvp")
            if tuple(a.shape) != tuple(t.shape):
                raise BackendError(
                    f"jvp: a tangent must have its argument's shape; got {tuple(t.shape)} "
                    f"for an argument of shape {tuple(a.shape)}"
                )
        # Dual numbers from torch.autograd.forward_ad rather than torch.func.jvp: the latter
        # (torch 2.13) promotes ``python_float * 0-d float32 tensor`` to a float64 tangent.
        import torch.autograd.forward_ad as fwad

        with _quiet_forward_ad(), fwad.dual_level():
            duals = [
                fwad.make_dual(a.detach(), t.to(dtype=a.dtype, device=a.device))
                for a, t in zip(args, tangents, strict=True)
            ]
            out = fwad.unpack_dual(fn(*duals))
            tangent = out.tangent if out.tangent is not None else torch.zeros_like(out.primal)
            return out.primal.detach(), tangent.detach()

    def _jacobian(self, fn: Callable[[Any], Any], x: Any, mode: str) -> Any:
        _differentiable(x, "jacobian")
        transform = torch.func.jacrev if mode == "reverse" else torch.func.jacfwd

        def with_value(v: Any) -> tuple[Any, Any]:
            out = fn(v)
            return out, out.detach()

        with _quiet_forward_ad():
            jac, value = transform(with_value, has_aux=True)(x)
        # torch.func's forward mode (torch 2.13) turns ``python_float * 0-d float32 tensor``
        # into a float64 tangent; the Jacobian has the function's dtype.
        return jac.to(dtype=value.dtype) if jac.dtype != value.dtype else jac


@contextlib.contextmanager
def _quiet_forward_ad() -> Iterator[None]:
    # The first forward-mode call makes torch load its jvp decompositions, which calls the
    # deprecated torch.jit.script internally and warns; the user can do nothing about it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
        yield


def _host(value: Any) -> Any:
    """A value NumPy can read: framework arrays (JAX, ...) go through ``__array__``."""
    if isinstance(value, (list, tuple)):
        return value
    return np.asarray(value) if hasattr(value, "__array__") else value


def _differentiable(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise BackendError(
            f"{what}: arguments must be torch tensors (use backend.asarray), "
            f"got {type(value).__name__}"
        )
    if not (value.is_floating_point() or value.is_complex()):
        raise BackendError(
            f"{what}: can only differentiate with respect to floating-point tensors, "
            f"got dtype {value.dtype}"
        )
    return value


def _check_scalar(out: Any, what: str) -> None:
    if not isinstance(out, torch.Tensor) or out.numel() != 1 or out.ndim != 0:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BackendError(f"{what}: the function must return a scalar tensor, got {shape}")
