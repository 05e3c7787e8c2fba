"""The two top-level packages rnn-oracle installs beside itself, ``conventions`` and
``backends``, are checked to be rnn-oracle's own before anything imports them.

A project with its own ``backends/`` or ``conventions/`` package earlier on ``sys.path``
(the current directory, ``PYTHONPATH``, a test runner's root) would otherwise shadow ours
and fail deep inside with ``cannot import name 'Backend' from 'backends'``. Each of our
packages carries a marker, ``_DISTRIBUTION = "rnn-oracle"``; a package of that name
without it gets an :class:`ImportError` that names where it was found and what to do.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: The value of ``_DISTRIBUTION`` in rnn-oracle's own ``conventions`` and ``backends``.
MARKER = "rnn-oracle"
#: The top-level packages the rnn-oracle distribution installs besides ``rnn_oracle``.
PACKAGES = ("conventions", "backends")
#: Where the three packages were installed side by side (site-packages, or the clone).
HOME = Path(__file__).resolve().parent.parent


class ShadowedPackageError(ImportError):
    """A ``conventions`` or ``backends`` that is not rnn-oracle's is found first."""


def _where(module: ModuleType | None, spec: importlib.machinery.ModuleSpec | None) -> str:
    """The file or folder a module (or, before import, its spec) comes from."""
    for source in (module, spec):
        origin = getattr(source, "__file__", None) or getattr(source, "origin", None)
        if origin and origin != "namespace":
            return str(origin)
        locations = getattr(source, "__path__", None) or getattr(
            source, "submodule_search_locations", None
        )
        if locations:
            return ", ".join(str(p) for p in locations)
    return "an unknown location"


def _shadowed(name: str, where: str) -> ShadowedPackageError:
    return ShadowedPackageError(
        f"rnn-oracle needs its own top-level package {name!r}, but Python found another "
        f"one first, at {where} (rnn-oracle's is in {HOME}). Rename your folder or "
        f"module {name!r} (for example to 'my_{name}'), or take the directory that "
        f"holds it off sys.path (the current directory, PYTHONPATH, or a pytest "
        f"'pythonpath' setting put it there).",
        name=name,
        path=where,
    )


def _is_here(spec: importlib.machinery.ModuleSpec) -> bool:
    return spec.origin is not None and Path(spec.origin).resolve().parent.parent == HOME


def check_package(name: str) -> ModuleType:
    """Import ``name`` and make sure it is rnn-oracle's own package; return it.

    Raises :class:`ShadowedPackageError` (an :class:`ImportError`) naming the path of the
    package found instead, and :class:`ImportError` when it is missing altogether.
    """
    module = sys.modules.get(name)
    spec = None
    if module is None:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(
                f"rnn-oracle's top-level package {name!r} is missing (expected in {HOME}); "
                f"reinstall rnn-oracle: python -m pip install --force-reinstall rnn-oracle",
                name=name,
            )
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            if _is_here(spec):  # ours, broken: let its own error speak
                raise
            raise _shadowed(name, _where(None, spec)) from exc
    if getattr(module, "_DISTRIBUTION", None) != MARKER:
        raise _shadowed(name, _where(module, spec))
    return module


def check_packages() -> None:
    """:func:`check_package` for ``conventions`` and ``backends``."""
    for name in PACKAGES:
        check_package(name)


check_packages()
