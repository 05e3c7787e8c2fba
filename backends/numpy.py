"""The NumPy adapter: the reference backend. No autodiff; complex numbers for complex step."""

from __future__ import annotations

from typing import Any, ClassVar

import array_api_compat.numpy as np_xp
import numpy as np

from backends.base import Backend
from backends.errors import BackendError
from backends.registry import DECLARED_CAPABILITIES


class NumpyBackend(Backend):
    name: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = DECLARED_CAPABILITIES["numpy"]
    extra: ClassVar[str] = ""
    _array_modules: ClassVar[tuple[str, ...]] = ("numpy",)

    @property
    def xp(self) -> Any:
        return np_xp

    def asarray(self, value: Any, dtype: str | None = None, device: Any = None) -> Any:
        if device not in (None, "cpu"):
            raise BackendError(f"device: NumPy arrays live on 'cpu'; got {device!r}")
        target = None if dtype is None else self.dtype(dtype)
        try:
            return np.array(value, dtype=target, copy=True)
        except (TypeError, ValueError) as exc:
            raise BackendError(f"asarray: cannot convert {type(value).__name__}: {exc}") from exc

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value, copy=True)
