"""The adapter interface every array framework implements.

An adapter is deliberately thin (einops' backend idea): it names the framework's array
namespace (``xp``, array-API style), converts to and from NumPy, maps dtype names, and —
where the framework has autodiff — exposes reverse mode, forward mode and full Jacobians
with one calling convention. Capabilities a framework lacks are declared absent and raise
:class:`~backends.errors.BackendError` when asked for, so callers can check
``"reverse" in backend.capabilities`` first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from backends.errors import BackendError

#: Capability names an adapter may declare.
CAPABILITIES = ("reverse", "forward", "jacobian", "complex", "jit")

#: dtype names understood by :meth:`Backend.dtype`.
DTYPE_NAMES = ("float32", "float64", "complex64", "complex128", "int64", "bool")


class Backend:
    """One array framework seen through a uniform, minimal interface.

    Subclasses set :attr:`name`, :attr:`capabilities` and :attr:`extra`, and implement the
    ``_``-prefixed hooks. The public methods validate their arguments and turn framework
    errors into :class:`BackendError`.
    """

    #: Registry name: ``"numpy"``, ``"torch"`` or ``"jax"``.
    name: ClassVar[str]
    #: The subset of :data:`CAPABILITIES` this framework offers.
    capabilities: ClassVar[frozenset[str]]
    #: The ``pip install rnn-oracle[<extra>]`` extra that installs the framework.
    extra: ClassVar[str]

    # -- arrays ---------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The framework's array-API namespace (``xp.tanh``, ``xp.matmul``, ...)."""
        raise NotImplementedError

    def dtype(self, name: str) -> Any:
        """The framework's dtype object for a dtype name such as ``"float64"``."""
        if name not in DTYPE_NAMES:
            raise BackendError(
                f"dtype: expected one of {', '.join(DTYPE_NAMES)}, got {name!r}"
            )
        return getattr(self.xp, name)

    def asarray(self, value: Any, dtype: str | None = None, device: Any = None) -> Any:
        """Convert ``value`` (NumPy array, scalar, nested list, or a native array) to a
        native array, optionally casting to the named dtype and placing it on ``device``.

        The result never shares memory with a NumPy ``value``, so nothing the caller
        holds is mutated by work done on it.
        """
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        """A NumPy copy of a native array (detached from any autodiff graph)."""
        raise NotImplementedError

    def is_native(self, value: Any) -> bool:
        """Whether ``value`` is this framework's array type.

        Decided from the type's module name, so no framework is imported to inspect.
        """
        return type(value).__module__.split(".")[0] in self._array_modules

    _array_modules: ClassVar[tuple[str, ...]] = ()

    # -- control flow -----------------------------------------------------------------------
    def scan(
        self, step: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Sequence[Any]
    ) -> tuple[Any, list[Any]]:
        """Run ``carry, y = step(carry, x)`` over ``xs``; return the final carry and ys.

        The default is a Python loop, which every framework differentiates through.
        """
        carry = init
        ys = []
        for x in xs:
            carry, y = step(carry, x)
            ys.append(y)
        return carry, ys

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A compiled version of ``fn`` where the framework compiles; else ``fn``."""
        return fn

    def vmap(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``fn`` mapped over axis 0 of one array, the results stacked.

        The default is a Python loop over the rows; frameworks that vectorise override it.
        """

        def mapped(rows: Any) -> Any:
            return self.xp.stack([fn(rows[i]) for i in range(rows.shape[0])], axis=0)

        return mapped

    @contextlib.contextmanager
    def precision(self, dtype: str) -> Iterator[None]:
        """Scope in which arrays of ``dtype`` can be created and computed with.

        Frameworks that need a global switch for float64 (JAX's x64) turn it on here and
        restore the caller's setting on exit; the others do nothing.
        """
        yield

    # -- autodiff ---------------------------------------------------------------------------
    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            offered = ", ".join(sorted(self.capabilities)) or "none"
            raise BackendError(
                f"backend {self.name!r} has no {capability!r} capability "
                f"(it offers: {offered}); use the torch or jax backend for autodiff"
            )

    def value_and_grad(
        self, fn: Callable[..., Any], args: Sequence[Any]
    ) -> tuple[Any, tuple[Any, ...]]:
        """Reverse mode: ``fn(*args)`` (a scalar) and its gradient w.r.t. every argument."""
        self._require("reverse")
        return self._value_and_grad(fn, tuple(args))

    def jvp(
        self, fn: Callable[..., Any], args: Sequence[Any], tangents: Sequence[Any]
    ) -> tuple[Any, Any]:
        """Forward mode: ``fn(*args)`` and its directional derivative along ``tangents``."""
        self._require("forward")
        if len(args) != len(tangents):
            raise BackendError(
                f"jvp: tangents must match args one to one; got {len(args)} args "
                f"and {len(tangents)} tangents"
            )
        return self._jvp(fn, tuple(args), tuple(tangents))

    def jacobian(self, fn: Callable[[Any], Any], x: Any, *, mode: str = "reverse") -> Any:
        """The index tensor ``J[out..., in...] = d fn(x)[out...] / d x[in...]``."""
        self._require("jacobian")
        if mode not in ("reverse", "forward"):
            raise BackendError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
        return self._jacobian(fn, x, mode)

    def _value_and_grad(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        raise NotImplementedError

    def _jvp(
        self, fn: Callable[..., Any], args: tuple[Any, ...], tangents: tuple[Any, ...]
    ) -> tuple[Any, Any]:
        raise NotImplementedError

    def _jacobian(self, fn: Callable[[Any], Any], x: Any, mode: str) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        caps = ", ".join(sorted(self.capabilities)) or "none"
        return f"<backend {self.name} (capabilities: {caps})>"
