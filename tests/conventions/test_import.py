"""``import conventions`` imports neither torch nor JAX, and exposes one error type."""

from __future__ import annotations

import subprocess
import sys

import conventions


def test_import_conventions_imports_neither_torch_nor_jax() -> None:
    code = (
        "import conventions, sys; "
        "assert 'torch' not in sys.modules and 'jax' not in sys.modules; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib')); "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_using_numpy_operators_imports_neither_torch_nor_jax() -> None:
    code = (
        "import numpy as np, sys\n"
        "from conventions import Kron, commutation, to_layout, vec, to_column\n"
        "A = np.ones((2, 3)); B = np.ones((4, 5))\n"
        "Kron(A, B) @ np.ones(15); commutation(2, 3) @ vec(A)\n"
        "to_layout(np.ones((2, 3)), 'numerator', out_shape=2, in_shape=3); to_column(A)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib')]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_public_surface() -> None:
    assert issubclass(conventions.ConventionError, ValueError)
    assert conventions.ConventionError.__module__ == "conventions.errors"
    for name in conventions.__all__:
        assert hasattr(conventions, name), name
    assert {
        "to_layout",
        "from_layout",
        "vec",
        "vecr",
        "unvec",
        "unvecr",
        "commutation",
        "Kron",
    } <= set(conventions.__all__)
