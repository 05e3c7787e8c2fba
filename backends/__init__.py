"""Thin adapters that run the same array code on NumPy, PyTorch and JAX.

Discovery is lazy: importing :mod:`backends` imports neither torch nor JAX.
"""

from backends.base import CAPABILITIES, DTYPE_NAMES, Backend
from backends.errors import BackendError
from backends.registry import (
    available_backends,
    backend_of,
    declared_capabilities,
    get_backend,
    install_hint,
    known_backends,
)

#: Marks this package as rnn-oracle's own (checked by ``rnn_oracle._packages``, so a
#: same-named package of yours earlier on sys.path gives a clear ImportError).
_DISTRIBUTION = "rnn-oracle"

__all__ = [
    "CAPABILITIES",
    "DTYPE_NAMES",
    "Backend",
    "BackendError",
    "available_backends",
    "backend_of",
    "declared_capabilities",
    "get_backend",
    "install_hint",
    "known_backends",
]
