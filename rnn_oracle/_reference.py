"""``reference(case, backend, method)``: the gradient of a case, computed one named way."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence

from backends import Backend, BackendError, get_backend
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.case import Case
from rnn_oracle.derivations import METHODS, Reference
from rnn_oracle.derivations._compiled import part_of, together
from rnn_oracle.errors import OracleError


def reference(case: Case, backend: str | Backend = "numpy", method: str = "bptt") -> Reference:
    """Loss and gradients of ``case`` by ``method`` on ``backend``.

    Methods: ``bptt`` (hand-derived, also gives per-step contributions, hidden-state
    gradients and local partials), ``finite_difference`` (central differences with an
    error estimate per entry), ``complex_step`` (NumPy only), ``autodiff`` (the framework's
    reverse mode; torch and JAX) and ``autodiff_forward`` (forward mode, ``jacfwd``; torch
    and JAX). Arrays come back in the backend's own type; ``.numpy()`` converts the whole
    result (do that before using JAX float64 results outside ``backend.precision``).
    """
    if not isinstance(case, Case):
        raise OracleError(f"reference: case must be a Case, got {type(case).__name__}")
    if method not in METHODS:
        raise OracleError(
            f"reference: unknown method {method!r}; known methods are {', '.join(METHODS)}"
        )
    try:
        be = get_backend(backend)
    except BackendError as exc:
        raise OracleError(f"reference: {exc}") from exc
    capability = METHODS[method][1]
    if capability is not None and capability not in be.capabilities:
        raise OracleError(
            f"reference: method {method!r} needs the {capability!r} capability, which backend "
            f"{be.name!r} lacks; backends that have it: {_backends_with(capability)}"
        )
    with be.precision(case.dtype):
        return _derivation(method)(case, be)


@contextlib.contextmanager
def computed_together(
    case: Case, backend: str | Backend, methods: Sequence[str]
) -> Iterator[None]:
    """Within the block, :func:`reference` of ``case`` on ``backend`` by any of ``methods``
    that compile (on JAX) is served from one program computing them all
    (:func:`rnn_oracle.derivations._compiled.together`): the same answers, compiled once
    instead of once per method. Elsewhere the block changes nothing."""
    be = get_backend(backend)
    parts = [part for m in methods if m in METHODS
             if (part := part_of(_derivation(m))) is not None]
    with be.precision(case.dtype), together(case, be, parts):
        yield


def _derivation(method: str) -> Callable[[Case, Backend], Reference]:
    """The function computing ``method`` (``METHODS``' module and function)."""
    module_name, _, function = METHODS[method][0].partition(":")
    module = importlib.import_module(f"rnn_oracle.derivations.{module_name}")
    derivation: Callable[[Case, Backend], Reference] = getattr(module, function or "gradients")
    return derivation


def _backends_with(capability: str) -> str:
    from backends import available_backends

    names = [n for n in available_backends() if capability in get_backend(n).capabilities]
    return ", ".join(names) or "none installed"
