"""The JAX adapter: ``jax.numpy`` as the namespace, ``jax.grad``/``jvp``/``jacrev``/``jacfwd``
for derivatives, ``lax.scan`` for loops and ``jax.jit`` for compilation.

Importing this module imports JAX; :func:`backends.get_backend` does so only on request.

float64 and JAX's x64 switch
----------------------------
JAX computes in float32 unless its global ``jax_enable_x64`` flag is on. This adapter never
flips that flag for good: :meth:`JaxBackend.precision` turns it on for the duration of a
``with`` block (JAX's own thread-local ``jax.enable_x64`` context) and the caller's setting
is back when the block exits, normally or by an exception. Outside such a block,
:meth:`JaxBackend.asarray` refuses to create a float64 array rather than silently truncate
it to float32 (which is what ``jnp.asarray`` would do).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from backends.base import DTYPE_NAMES, Backend
from backends.errors import BackendError
from backends.registry import DECLARED_CAPABILITIES

#: dtypes that exist in JAX only while x64 is enabled.
_WIDE = frozenset({"float64", "complex128", "int64"})
_WIDE_FLOAT = frozenset({"float64", "complex128"})


def _x64_context() -> Callable[[bool], contextlib.AbstractContextManager[Any]]:
    # jax >= 0.5 exposes the scoped switch as jax.enable_x64 (a config State usable as a
    # context manager); older releases had it in jax.experimental.
    scoped = getattr(jax, "enable_x64", None)
    if scoped is not None:
        return scoped
    from jax.experimental import enable_x64  # pragma: no cover - older JAX only

    return enable_x64  # pragma: no cover


#: XLA options of :meth:`JaxBackend.jit` (see there).
_COMPILE_FAST = {
    "xla_backend_optimization_level": 1,
    "xla_cpu_use_fusion_emitters": False,
    "xla_cpu_parallel_codegen_split_count": 1,
}


def x64_enabled() -> bool:
    """Whether JAX's x64 mode is on in the current thread and scope."""
    return bool(jax.config.jax_enable_x64)


class JaxBackend(Backend):
    name: ClassVar[str] = "jax"
    capabilities: ClassVar[frozenset[str]] = DECLARED_CAPABILITIES["jax"]
    extra: ClassVar[str] = "jax"
    _array_modules: ClassVar[tuple[str, ...]] = ("jax", "jaxlib")

    @property
    def xp(self) -> Any:
        return jnp

    @property
    def default_device(self) -> Any:
        """Where arrays go when no device is given: JAX's default device."""
        return jnp.zeros(()).device

    @contextlib.contextmanager
    def precision(self, dtype: str) -> Iterator[None]:
        """Enable x64 for the block when ``dtype`` needs it; restore the caller's setting.

        Inside the block arrays are created and computed in the requested width. Arrays
        made inside stay float64 afterwards, but the first JAX operation on them outside
        the block (with x64 off) computes in float32 — convert results with
        :meth:`to_numpy` (or ``Reference.numpy()``) before leaving, or keep working inside.
        """
        if dtype not in DTYPE_NAMES:
            raise BackendError(
                f"precision: expected one of {', '.join(DTYPE_NAMES)}, got {dtype!r}"
            )
        if dtype in _WIDE:
            with _x64_context()(True):
                yield
        else:
            yield

    def asarray(self, value: Any, dtype: str | None = None, device: Any = None) -> Any:
        target = None if dtype is None else self.dtype(dtype)
        placement = _device(device)
        try:
            if isinstance(value, jax.Array):
                source: Any = value
                width = value.dtype.name
            elif isinstance(value, (bool, int, float, complex, list, tuple)) and dtype is None:
                # Plain Python data has no dtype of its own: JAX's defaults apply (float32,
                # or float64 inside precision("float64")).
                source, width = value, ""
            else:
                # Copy through NumPy: jnp.asarray may alias a NumPy buffer on CPU, and a
                # framework array (torch, ...) is read through __array__.
                source = np.array(np.asarray(value), copy=True)
                if source.dtype.kind not in "biufc":
                    raise TypeError(f"dtype {source.dtype} has no JAX equivalent")
                width = source.dtype.name
            wanted = dtype if dtype is not None else width
            # An explicit 64-bit request, or 64-bit float data, would silently lose half its
            # digits (int64 data may become int32: class indices fit).
            needs_x64 = (dtype is not None and wanted in _WIDE) or wanted in _WIDE_FLOAT
            if needs_x64 and not x64_enabled():
                raise BackendError(
                    f"asarray: {wanted} needs JAX's x64 mode, which is off; create and use "
                    f"such arrays inside `with backend.precision({wanted!r}):` (it restores "
                    f"your setting on exit), or request dtype='float32'"
                )
            if isinstance(source, np.ndarray) and (target is None or source.dtype == target):
                # NumPy data already in the wanted dtype (and already a private copy): a
                # transfer. jnp.array would bind a conversion, compiled once per shape.
                return jax.device_put(source, placement)
            return jnp.array(source, dtype=target, copy=True, device=placement)
        except (TypeError, ValueError) as exc:
            raise BackendError(
                f"asarray: cannot convert {type(value).__name__} to a JAX array "
                f"(dtype={dtype!r}, device={device!r}): {exc}"
            ) from exc

    def to_numpy(self, value: Any) -> np.ndarray:
        try:
            return np.array(value, copy=True)
        except (TypeError, ValueError, jax.errors.ConcretizationTypeError) as exc:
            raise BackendError(f"to_numpy: cannot convert {type(value).__name__}: {exc}") from exc

    # -- control flow -----------------------------------------------------------------------
    def scan(
        self, step: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Sequence[Any]
    ) -> tuple[Any, list[Any]]:
        """``lax.scan``: ``xs`` is a stacked array (time on axis 0) or a list of steps.

        One traced step instead of a Python loop unrolled ``T`` times: compile time does
        not grow with ``T``. The ys come back as a list, as from the default loop.
        """
        if isinstance(xs, jax.Array):
            stacked, length = xs, int(xs.shape[0])
        else:
            steps = list(xs)
            if not steps:
                return init, []
            stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *steps)
            length = len(steps)
        carry, ys = jax.lax.scan(step, init, stacked)
        return carry, [jax.tree.map(lambda leaf, i=i: leaf[i], ys) for i in range(length)]

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # The programs compiled here are small and run a few times, so compiling is what
        # they cost: with XLA's older (non-fusion) emitters, LLVM at -O1 and the module
        # compiled in one piece (no parallel codegen: splitting a small module and handing
        # the parts to threads costs more than it saves), verify's programs compile about
        # 3x faster than with the defaults. Fast-math stays off. Not -O0, though faster
        # still: jaxlib 0.10.2's CPU backend miscompiles there (NaN gradients of an
        # n_h = 1 softmax network, tests/backends/test_jax.py).
        return jax.jit(fn, compiler_options=_COMPILE_FAST)

    def vmap(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return jax.vmap(fn)

    # -- autodiff -----------------------------------------------------------------------------
    def _value_and_grad(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        if not args:
            raise BackendError("value_and_grad: needs at least one argument to differentiate")
        for a in args:
            _differentiable(a, "value_and_grad")
        try:
            value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(*args)
        except TypeError as exc:  # a non-scalar output, most often
            raise BackendError(f"value_and_grad: {exc}") from exc
        return value, tuple(grads)

    def _jvp(
        self, fn: Callable[..., Any], args: tuple[Any, ...], tangents: tuple[Any, ...]
    ) -> tuple[Any, Any]:
        cast = []
        for a, t in zip(args, tangents, strict=True):
            _differentiable(a, "jvp")
            if tuple(a.shape) != tuple(np.shape(t)):
                raise BackendError(
                    f"jvp: a tangent must have its argument's shape; got {tuple(np.shape(t))} "
                    f"for an argument of shape {tuple(a.shape)}"
                )
            cast.append(jnp.asarray(t, dtype=a.dtype))
        value, tangent = jax.jvp(fn, args, tuple(cast))
        return value, tangent

    def _jacobian(self, fn: Callable[[Any], Any], x: Any, mode: str) -> Any:
        _differentiable(x, "jacobian")
        transform = jax.jacrev if mode == "reverse" else jax.jacfwd
        try:
            # Compiled: eager dispatch of one vmapped tangent or cotangent per entry costs
            # more than compiling (2.5x on the architecture matrix).
            return jax.jit(transform(fn))(x)
        except TypeError:
            # ``fn`` does not trace (Python control flow on values): run it eagerly, which
            # also raises its own error if it fails for another reason.
            return transform(fn)(x)


def _device(device: Any) -> Any:
    """A JAX device from ``None`` (JAX's default), a ``Device``, or a name such as ``"cpu"``
    or ``"gpu:1"`` (platform, optional index)."""
    if device is None or not isinstance(device, str):
        return device
    platform, _, index = device.partition(":")
    try:
        return jax.devices(platform)[int(index or 0)]
    except (RuntimeError, ValueError, IndexError) as exc:
        raise BackendError(f"device: JAX has no device {device!r}: {exc}") from exc


def _differentiable(value: Any, what: str) -> None:
    if not isinstance(value, jax.Array):
        raise BackendError(
            f"{what}: arguments must be JAX arrays (use backend.asarray), "
            f"got {type(value).__name__}"
        )
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        raise BackendError(
            f"{what}: can only differentiate with respect to floating-point arrays, "
            f"got dtype {value.dtype}"
        )
