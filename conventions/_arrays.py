"""Private helpers: array-namespace lookup and argument checks shared by the modules.

Nothing here imports torch or JAX; the namespace of an array is found with
``array_api_compat.array_namespace`` only when an array is given.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

from .errors import ConventionError

Array = Any
"""Any array-API array: NumPy, torch or JAX (kept as ``Any`` so no framework is imported)."""

Shape = tuple[int, ...]


def namespace(name: str, *arrays: Array) -> Any:
    """The array-API namespace of ``arrays``; ``ConventionError`` naming ``name`` otherwise."""
    try:
        return array_namespace(*arrays)
    except TypeError as exc:
        kinds = ", ".join(type(a).__name__ for a in arrays)
        raise ConventionError(
            f"{name}: expected array(s) from one array library (NumPy, torch or JAX), "
            f"got {kinds} ({exc})"
        ) from None


def shape_of(name: str, x: Array) -> Shape:
    """``x.shape`` as a tuple of ints, with a ``ConventionError`` if ``x`` has none."""
    shape = getattr(x, "shape", None)
    if shape is None:
        raise ConventionError(f"{name}: expected an array with a .shape, got {type(x).__name__}")
    return tuple(int(s) for s in shape)


def check_ndim(name: str, x: Array, ndim: int) -> Shape:
    """The shape of ``x`` after checking it has ``ndim`` axes."""
    shape = shape_of(name, x)
    if len(shape) != ndim:
        hint = ""
        if ndim == 2 and len(shape) == 1:
            hint = f"; reshape to (1, {shape[0]}) for a row or ({shape[0]}, 1) for a column"
        raise ConventionError(
            f"{name}: expected a {ndim}-D array, got shape {shape} ({len(shape)}-D){hint}"
        )
    return shape


def size_arg(name: str, value: object) -> int:
    """A non-negative integer size (``int`` or integer-like such as ``numpy.int64``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConventionError(
            f"{name}: expected a non-negative integer, got {value!r} ({type(value).__name__})"
        ) from None
    if n < 0:
        raise ConventionError(f"{name}: expected a non-negative integer, got {n}")
    return n


def shape_arg(name: str, value: object) -> Shape:
    """A shape: an int (taken as a 1-tuple) or a sequence of non-negative ints."""
    if isinstance(value, (str, bytes)):
        raise ConventionError(f"{name}: expected a tuple of non-negative ints, got {value!r}")
    if isinstance(value, Sequence):
        return tuple(size_arg(f"{name}[{k}]", v) for k, v in enumerate(value))
    if hasattr(value, "__index__") and not isinstance(value, bool) and not hasattr(value, "shape"):
        return (size_arg(name, value),)
    raise ConventionError(
        f"{name}: expected a tuple of non-negative ints, got {value!r} ({type(value).__name__})"
    )


def prod(shape: Shape) -> int:
    """Product of a shape (1 for the empty shape)."""
    return math.prod(shape)
