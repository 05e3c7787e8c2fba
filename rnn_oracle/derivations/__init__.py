"""Ways of computing the gradient, one module each, all with the same interface::

    gradients(case: Case, backend: Backend) -> Reference

:data:`METHODS` maps each method name to its module and the backend capability it needs.
"""

from __future__ import annotations

from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.derivations.base import Reference

#: method name -> (module under rnn_oracle.derivations, capability the backend must have).
#: The module's ``gradients`` is called; ``"module:function"`` names another function, so
#: that one module can hold several methods (autodiff's reverse and forward modes).
METHODS: dict[str, tuple[str, str | None]] = {
    "bptt": ("bptt", None),
    "finite_difference": ("finite_difference", None),
    "complex_step": ("complex_step", "complex"),
    "jacobian_chain": ("jacobian_chain", None),
    "kronecker": ("kronecker", None),
    "differential": ("differential", None),
    "einsum": ("einsum", None),
    "rtrl": ("rtrl", None),
    "autodiff": ("autodiff", "reverse"),
    "autodiff_forward": ("autodiff:forward_gradients", "forward"),
}

__all__ = ["METHODS", "Reference"]
