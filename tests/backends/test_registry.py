"""Lazy discovery: names, installation hints, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import backends
from backends import BackendError, available_backends, backend_of, get_backend


def test_numpy_is_always_available() -> None:
    assert "numpy" in available_backends()
    assert get_backend("numpy").name == "numpy"


def test_get_backend_is_cached_and_accepts_an_instance() -> None:
    be = get_backend("numpy")
    assert get_backend("numpy") is be
    assert get_backend(be) is be


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(BackendError, match=r"unknown name 'tensorflow'.*numpy"):
        get_backend("tensorflow")


def test_non_string_backend_is_a_typed_error() -> None:
    with pytest.raises(BackendError, match="expected a name"):
        get_backend(3)  # type: ignore[arg-type]


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends import registry

    fake = ("backends.numpy", "NumpyBackend", "no_such_fw")
    monkeypatch.setitem(registry._ADAPTERS, "fake", fake)
    monkeypatch.setitem(registry._EXTRAS, "fake", "fake")
    assert "fake" not in available_backends()
    with pytest.raises(BackendError, match=r"rnn-oracle\[fake\]"):
        get_backend("fake")


def test_declared_capabilities_match_the_adapter() -> None:
    assert backends.declared_capabilities("numpy") == get_backend("numpy").capabilities
    with pytest.raises(BackendError, match="unknown name"):
        backends.declared_capabilities("nope")


def test_backend_of_reads_the_type_without_importing() -> None:
    assert backend_of(np.zeros(2)).name == "numpy"
    with pytest.raises(BackendError, match=r"expected a NumPy, torch or JAX array, got list"):
        backend_of([1.0, 2.0])


def test_import_loads_no_framework() -> None:
    code = (
        "import sys, backends; backends.available_backends(); "
        "assert not any(m.split('.')[0] in ('torch', 'jax') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith(('torch', 'jax')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_broken_framework_is_named(tmp_path, monkeypatch) -> None:
    """A framework that is installed but fails on import gives a BackendError naming it,
    not the framework's own traceback."""
    import importlib
    import sys

    from backends import BackendError, get_backend, registry

    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('libtorch_cpu.so: cannot open')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = [m for m in sys.modules if m == "torch" or m.startswith(("torch.", "backends.torch"))]
    for name in loaded:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(registry, "_cache", {})
    importlib.invalidate_caches()
    broken = r"backend 'torch': torch is installed but cannot be used \(RuntimeError: libtorch"
    with pytest.raises(BackendError, match=broken):
        get_backend("torch")
