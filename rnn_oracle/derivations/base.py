"""What every derivation returns, and the shared step of moving a case onto a backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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
    from rnn_oracle.derivations._compiled import traced_stand_in
    from rnn_oracle.model import one_hot

    dtype = dtype or case.dtype
    traced = traced_stand_in(case, dtype)
    if traced is not None:  # inside the trace of a compiled derivation: its arguments
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
