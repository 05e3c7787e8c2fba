"""Ways of computing the gradient, one module each, all with the same interface::

    gradients(case: Case, backend: Backend) -> Reference

:data:`METHODS` maps each method name to its module and the backend capability it needs.
"""

from __future__ import annotations

from rnn_oracle.derivations.base import Reference

#: method name -> (module under rnn_oracle.derivations, capability the backend must have)
METHODS: dict[str, tuple[str, str | None]] = {
    "bptt": ("bptt", None),
    "finite_difference": ("finite_difference", None),
    "complex_step": ("complex_step", "complex"),
}

__all__ = ["METHODS", "Reference"]
