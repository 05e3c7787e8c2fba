"""Column-major ``vec`` and row-major ``vecr`` with their inverses, on any array library.

``vec(X)`` stacks the columns of ``X`` (NumPy ``X.reshape(-1, order="F")``);
``vecr(X)`` stacks the rows (``X.reshape(-1)``). For ``X`` of shape ``(m, n)``::

    vec(X)[j * m + i] == X[i, j]        vecr(X)[i * n + j] == X[i, j]
"""

from __future__ import annotations

from ._arrays import Array, check_ndim, namespace, shape_arg
from .errors import ConventionError

__all__ = ["unvec", "unvecr", "vec", "vecr"]


def vec(X: Array) -> Array:
    """Column-major vectorization of a 2-D array: its columns stacked into one 1-D array."""
    check_ndim("X", X, 2)
    xp = namespace("X", X)
    return xp.reshape(xp.permute_dims(X, (1, 0)), (-1,))


def vecr(X: Array) -> Array:
    """Row-major vectorization of a 2-D array: its rows stacked into one 1-D array."""
    check_ndim("X", X, 2)
    xp = namespace("X", X)
    return xp.reshape(X, (-1,))


def _unvec_shape(v: Array, shape: object) -> tuple[int, int]:
    (length,) = check_ndim("v", v, 1)
    dims = shape_arg("shape", shape)
    if len(dims) != 2:
        raise ConventionError(f"shape: expected (rows, cols), got {dims}")
    m, n = dims
    if m * n != length:
        raise ConventionError(
            f"v: expected length rows*cols = {m}*{n} = {m * n} for shape {dims}, got {length}"
        )
    return m, n


def unvec(v: Array, shape: tuple[int, int]) -> Array:
    """Inverse of :func:`vec`: refill a ``(rows, cols)`` matrix column by column."""
    m, n = _unvec_shape(v, shape)
    xp = namespace("v", v)
    return xp.permute_dims(xp.reshape(v, (n, m)), (1, 0))


def unvecr(v: Array, shape: tuple[int, int]) -> Array:
    """Inverse of :func:`vecr`: refill a ``(rows, cols)`` matrix row by row."""
    m, n = _unvec_shape(v, shape)
    xp = namespace("v", v)
    return xp.reshape(v, (m, n))
