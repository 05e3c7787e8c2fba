"""``reference(case, backend, method)``: the gradient of a case, computed one named way."""

from __future__ import annotations

import importlib

from backends import Backend, BackendError, get_backend
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.case import Case
from rnn_oracle.derivations import METHODS, Reference
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
    module_name, capability = METHODS[method]
    if capability is not None and capability not in be.capabilities:
        raise OracleError(
            f"reference: method {method!r} needs the {capability!r} capability, which backend "
            f"{be.name!r} lacks; backends that have it: {_backends_with(capability)}"
        )
    module_name, _, function = module_name.partition(":")
    module = importlib.import_module(f"rnn_oracle.derivations.{module_name}")
    with be.precision(case.dtype):
        result: Reference = getattr(module, function or "gradients")(case, be)
    return result


def _backends_with(capability: str) -> str:
    from backends import available_backends

    names = [n for n in available_backends() if capability in get_backend(n).capabilities]
    return ", ".join(names) or "none installed"
