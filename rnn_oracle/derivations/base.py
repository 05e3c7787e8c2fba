"""What every derivation returns, and the shared step of moving a case onto a backend."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from backends import Backend
from rnn_oracle.case import Case

Array = Any


class LazyMapping(Mapping[str, Any]):
    """A mapping computed on first access.

    The extra quantities of hand BPTT (per-step contributions, local partials) cost as
    much as the gradients themselves; a caller who only wants the gradients does not pay
    for them.
    """

    def __init__(
        self,
        compute: Callable[[], Mapping[str, Any]],
        scope: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self._compute: Callable[[], Mapping[str, Any]] | None = compute
        # The first read may come after the scope the arrays were made in has closed (JAX's
        # float64 lives inside ``backend.precision``): the computation re-enters it.
        self._scope = scope
        self._value: Mapping[str, Any] = {}

    def _data(self) -> Mapping[str, Any]:
        if self._compute is not None:
            with self._scope():
                self._value = dict(self._compute())
            self._compute = None  # drop the closure and what it holds
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        state = "not computed yet" if self._compute is not None else f"keys {list(self._value)}"
        return f"LazyMapping({state})"


@dataclass(frozen=True)
class Reference:
    """A derivation's answer for one :class:`~rnn_oracle.case.Case`.

    Arrays are in the backend's own type; :meth:`numpy` gives a NumPy copy of everything.
    Gradients have the canonical shape of what they differentiate (parameters, ``h0``,
    ``inputs``). Quantities a method cannot produce are ``None``.

    Attributes:
        method, backend, dtype: where the numbers came from.
        loss: the scalar ``J``.
        grads: ``∂J/∂θ`` by name: the parameters, ``"h0"`` and (unless inputs are class
            indices) ``"inputs"``.
        per_step: seed 003's ``∇^{(t)}``: for each parameter a ``(T, *shape)`` stack of
            the contribution of step ``t``'s use of that parameter; they sum to ``grads``.
        hidden_grads: ``∇_{h(t)} J`` (DL book eq. 10.21), ``(T, [B,] n_h)``.
        local: seed 000's ``∂J^{(t)}/∂θ |_t``: for each parameter a ``(T, *shape)`` stack
            of the derivative of step ``t``'s term of ``J`` through step ``t`` alone
            (``h_{t-1}`` held fixed; no recurrent contribution).
        error: for numerical methods, an estimate of each gradient entry's error.
    """

    method: str
    backend: str
    dtype: str
    loss: Array
    grads: Mapping[str, Array]
    per_step: Mapping[str, Array] | None = None
    hidden_grads: Array | None = None
    local: Mapping[str, Array] | None = None
    error: Mapping[str, Array] | None = field(default=None, repr=False)

    def numpy(self) -> Reference:
        """The same answer with every array converted to NumPy (lazy quantities convert
        when first read)."""
        from backends import backend_of

        def conv(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, LazyMapping):
                # Still not computed on first read: the per-step stacks are (T, *shape)
                # each, and most callers of numpy() want the gradients only.
                return LazyMapping(lambda: {k: conv(v) for k, v in value.items()})
            if isinstance(value, Mapping):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, (float, int, np.floating)):
                return np.asarray(value)
            return backend_of(value).to_numpy(value)

        return replace(
            self,
            loss=conv(self.loss),
            grads=conv(self.grads),
            per_step=conv(self.per_step),
            hidden_grads=conv(self.hidden_grads),
            local=conv(self.local),
            error=conv(self.error),
        )


@dataclass(frozen=True)
class OnBackend:
    """A case's arrays converted to one backend (fixed data and differentiable arrays)."""

    backend: Backend
    arrays: dict[str, Array]  #: differentiable: parameters, h0, inputs (if not indices)
    index_inputs: Array | None  #: class-index inputs, else None
    targets: Array  #: one-hot (softmax_ce) or dense (linear_mse) targets; None for head none
    upstream: Array  #: per-step ∂J/∂h_t for head none, else None

    @property
    def x(self) -> Array:
        """Dense input rows, one-hot if the case gives indices."""
        from rnn_oracle.model import one_hot

        if self.index_inputs is None:
            return self.arrays["inputs"]
        xp = self.backend.xp
        n_x = self.arrays["W_xh"].shape[1]
        return one_hot(xp, self.index_inputs, n_x, self.arrays["h0"].dtype)


def to_backend(case: Case, backend: Backend, dtype: str | None = None) -> OnBackend:
    """Convert a case's arrays to ``backend`` (in ``dtype``, default the case's)."""
    from rnn_oracle.model import one_hot

    dtype = dtype or case.dtype
    traced = traced_stand_in(case, dtype)
    if traced is not None:
        return traced
    arrays = {name: backend.asarray(value, dtype) for name, value in case.arrays().items()}
    index_inputs = backend.asarray(case.inputs) if case.spec.inputs == "indices" else None
    targets = None
    if case.spec.head == "softmax_ce":
        assert case.targets is not None
        targets = one_hot(
            backend.xp, backend.asarray(case.targets), case.spec.n_y, backend.dtype(dtype)
        )
    elif case.spec.head == "linear_mse":
        targets = backend.asarray(case.targets, dtype)
    upstream = None if case.upstream is None else backend.asarray(case.upstream, dtype)
    return OnBackend(backend, arrays, index_inputs, targets, upstream)


# -- one compiled program per structure ---------------------------------------------------------
#: While :func:`compiled` traces a derivation: the case it traces and the stand-in of its
#: converted arrays (the traced program's arguments), which ``to_backend`` then returns.
_TRACING: ContextVar[tuple[object, str, object] | None] = ContextVar("_TRACING", default=None)

#: Compiled programs by structure (derivation, spec, array shapes and dtypes), so that a
#: second case of the same shape — another seed — reuses the program instead of compiling
#: again. Bounded: the oldest program goes first.
_PROGRAMS: dict[Hashable, Callable[..., Any]] = {}
PROGRAM_CACHE_SIZE = 512

#: Reference fields a compiled run leaves to an eager run on first read (they are lazy,
#: and a traced array cannot outlive its trace).
_LAZY_FIELDS = ("per_step", "local")

def traced_stand_in(case: object, dtype: str) -> Any | None:
    """Inside :func:`compiled`'s trace of ``case``: its converted arrays as traced values."""
    current = _TRACING.get()
    if current is not None and current[0] is case and current[1] == dtype:
        return current[2]
    return None


def structure(converted: Any) -> Hashable:
    """What a compiled program of a converted case depends on besides the numbers: every
    field's names, shapes and dtypes, and the values of its integer fields."""

    def of(value: Any) -> Hashable:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, Mapping):
            return tuple((k, of(v)) for k, v in value.items())
        return tuple(value.shape), str(value.dtype)

    return tuple((f.name, of(getattr(converted, f.name)))
                 for f in fields(converted) if f.name != "backend")


def cached_program(key: Hashable, build: Callable[[], Any]) -> Any:
    """The program for ``key``, built (and kept) on first use."""
    program = _PROGRAMS.get(key)
    if program is None:
        if len(_PROGRAMS) >= PROGRAM_CACHE_SIZE:
            del _PROGRAMS[next(iter(_PROGRAMS))]
        program = _PROGRAMS[key] = build()
    return program


def data_fields(converted: Any) -> list[Any]:
    """The arrays of a converted case (an ``OnBackend``), in field and key order: what a
    compiled program takes (a list: a program would see a dict's keys sorted)."""
    return [leaf for _, value in _data_items(converted) for leaf in _leaves(value)]


def with_data(converted: Any, leaves: Sequence[Any]) -> Any:
    """``converted`` with its arrays replaced by ``leaves`` (:func:`data_fields` order)."""
    rest = iter(leaves)
    changes: dict[str, Any] = {}
    for name, value in _data_items(converted):
        if isinstance(value, Mapping):
            changes[name] = {k: next(rest) for k in value}
        else:
            changes[name] = None if value is None else next(rest)
    return replace(converted, **changes)


def _data_items(converted: Any) -> list[tuple[str, Any]]:
    return [
        (f.name, getattr(converted, f.name))
        for f in fields(converted)
        if f.name != "backend" and not isinstance(getattr(converted, f.name), int)
    ]


def _leaves(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value.values()) if isinstance(value, Mapping) else [value]


def compiled(
    convert: Callable[[Any, Backend], Any],
) -> Callable[[Callable[[Any, Backend], Reference]], Callable[[Any, Backend], Reference]]:
    """Run a derivation ``run(case, backend)`` as one compiled program on a backend that
    compiles (JAX), compiled once per structure and reused; elsewhere call it as it is.

    Eager JAX compiles every primitive at every shape it meets and dispatches each from
    Python, which costs far more than the arithmetic of a small network. The program's
    arguments are the case's converted arrays (``convert(case, backend)``; the derivation's
    own call of it returns their traced stand-ins), so a case of the same shape with other
    numbers runs the same program: the derivation reads nothing else of the case but its
    structure (spec, sizes, dtype). Lazy extras (per-step contributions, local partials)
    come from an eager run when first read. A derivation that cannot be traced (Python
    control flow on values) runs eagerly.
    """

    def decorate(run: Callable[[Any, Backend], Reference]) -> Callable[[Any, Backend], Reference]:
        @functools.wraps(run)
        def gradients(case: Any, backend: Backend) -> Reference:
            if "jit" not in backend.capabilities or _TRACING.get() is not None:
                return run(case, backend)
            converted = convert(case, backend)
            data = data_fields(converted)
            key = (run, case.spec, structure(converted))
            try:
                program, shape = cached_program(key, lambda: _trace(run, case, backend, converted))
                loss, grads, hidden_grads = program(data)
            except TypeError:  # not traceable: Python control flow on traced values
                _PROGRAMS.pop(key, None)
                return run(case, backend)
            eager = functools.cache(lambda: run(case, backend))
            return Reference(
                shape.method, backend.name, shape.dtype, loss,
                {n: grads[n] for n in shape.names},
                hidden_grads=hidden_grads,
                **{n: LazyMapping(lambda n=n: getattr(eager(), n),  # type: ignore[misc]
                                  lambda: backend.precision(case.dtype))
                   for n in shape.lazy},
            )

        return gradients

    return decorate


@dataclass
class _Shape:
    """What a traced run's Reference holds besides its arrays (known once traced)."""

    method: str = ""
    dtype: str = ""
    names: tuple[str, ...] = ()  #: the gradients' order (a program returns dicts sorted)
    lazy: tuple[str, ...] = ()


def _trace(
    run: Callable[[Any, Backend], Reference], case: Any, backend: Backend, converted: Any
) -> tuple[Callable[..., Any], _Shape]:
    shape = _Shape()

    def traced(leaves: list[Any]) -> tuple[Any, Any, Any]:
        token = _TRACING.set((case, case.dtype, with_data(converted, leaves)))
        try:
            ref = run(case, backend)
        finally:
            _TRACING.reset(token)
        shape.method, shape.dtype, shape.names = ref.method, ref.dtype, tuple(ref.grads)
        shape.lazy = tuple(n for n in _LAZY_FIELDS if getattr(ref, n) is not None)
        return ref.loss, dict(ref.grads), ref.hidden_grads

    return backend.jit(traced), shape
