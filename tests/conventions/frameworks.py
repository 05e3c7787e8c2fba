"""Shared by the conventions tests: build torch or JAX arrays from NumPy ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def native_converter(lib: str) -> Callable[[np.ndarray], Any]:
    """NumPy -> torch or JAX array (skips when the library is not installed)."""
    if lib == "torch":
        return pytest.importorskip("torch").from_numpy  # type: ignore[no-any-return]
    return pytest.importorskip("jax.numpy").asarray  # type: ignore[no-any-return]
