"""Lazy discovery of backends: nothing is imported until a backend is asked for."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from backends.base import Backend
from backends.errors import BackendError

# name -> (adapter module, adapter class, framework module that must be importable)
_ADAPTERS: dict[str, tuple[str, str, str]] = {
    "numpy": ("backends.numpy", "NumpyBackend", "numpy"),
    "torch": ("backends.torch", "TorchBackend", "torch"),
    "jax": ("backends.jax", "JaxBackend", "jax"),
}

_EXTRAS = {"numpy": "", "torch": "torch", "jax": "jax"}

#: What each adapter can do, known without importing its framework. The adapter classes
#: read their ``capabilities`` from here, so the two cannot drift apart.
DECLARED_CAPABILITIES: dict[str, frozenset[str]] = {
    "numpy": frozenset({"complex"}),
    "torch": frozenset({"reverse", "forward", "jacobian"}),
    "jax": frozenset({"reverse", "forward", "jacobian", "jit"}),
}

_cache: dict[str, Backend] = {}


def known_backends() -> tuple[str, ...]:
    """Every backend this version ships an adapter for, its framework installed or not."""
    return tuple(name for name, (adapter, _, _) in _ADAPTERS.items() if _adapter_exists(adapter))


def declared_capabilities(name: str) -> frozenset[str]:
    """The capabilities of backend ``name`` (installed or not), without importing it."""
    if name not in DECLARED_CAPABILITIES:
        raise BackendError(
            f"backend: unknown name {name!r}; known backends are {', '.join(_ADAPTERS)}"
        )
    return DECLARED_CAPABILITIES[name]


def install_hint(name: str) -> str:
    """The command that installs the framework behind ``name``."""
    extra = _EXTRAS.get(name, name)
    return f"pip install 'rnn-oracle[{extra}]'" if extra else "pip install rnn-oracle"


def _adapter_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> tuple[str, ...]:
    """Names of backends whose framework is installed (checked without importing it)."""
    return tuple(
        name
        for name, (adapter, _, framework) in _ADAPTERS.items()
        if _adapter_exists(framework) and _adapter_exists(adapter)
    )


def get_backend(name: str | Backend) -> Backend:
    """The adapter for ``name`` (``"numpy"``, ``"torch"`` or ``"jax"``), imported on first use.

    Raises :class:`BackendError` for an unknown name, or naming the extra to install when
    the framework is missing.
    """
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise BackendError(f"backend: expected a name such as 'numpy', got {type(name).__name__}")
    if name in _cache:
        return _cache[name]
    if name not in _ADAPTERS:
        raise BackendError(
            f"backend: unknown name {name!r}; known backends are {', '.join(_ADAPTERS)}"
        )
    adapter, cls_name, framework = _ADAPTERS[name]
    if not _adapter_exists(framework):
        raise BackendError(
            f"backend {name!r} is not installed: {framework} cannot be imported. "
            f"Install it with: {install_hint(name)}"
        )
    if not _adapter_exists(adapter):
        raise BackendError(f"backend {name!r} has no adapter in this version of rnn-oracle")
    try:
        module = importlib.import_module(adapter)
        backend: Backend = getattr(module, cls_name)()
    except BackendError:
        raise
    except Exception as exc:  # a framework that is installed but broken
        raise BackendError(
            f"backend {name!r}: {framework} is installed but cannot be used "
            f"({type(exc).__name__}: {exc}); reinstall it, e.g. with: {install_hint(name)}"
        ) from exc
    _cache[name] = backend
    return backend


def backend_of(array: Any) -> Backend:
    """The backend whose array type ``array`` is, decided without importing a framework."""
    root = type(array).__module__.split(".")[0]
    roots = {"numpy": "numpy", "torch": "torch", "jax": "jax", "jaxlib": "jax"}
    if root not in roots:
        raise BackendError(
            f"array: expected a NumPy, torch or JAX array, got {type(array).__qualname__} "
            f"from module {type(array).__module__!r}"
        )
    return get_backend(roots[root])
