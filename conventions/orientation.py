"""Row ↔ column orientation of vectors and of the matrices that act on them.

A row-vector expression ``y = x @ W`` has the column-vector twin ``y_c = W_c @ x_c`` with
``x_c = x.T``, ``y_c = y.T`` and ``W_c = W.T``. A batch stored as rows, ``Y = X @ W``
(``X`` of shape ``(N, n)``), reads ``Y.T = W_c @ X.T`` in columns: :func:`to_column` of the
batch gives the ``(n, N)`` matrix whose columns are the samples.

Gradients transform like their parameters: the gradient with respect to ``W_c`` is the
transpose of the gradient with respect to ``W``, so :func:`column_matrix` converts either.

Every function is a transpose (or a reshape of a 1-D vector), so round trips are exact.
"""

from __future__ import annotations

from ._arrays import Array, namespace, shape_of
from .errors import ConventionError

__all__ = ["column_matrix", "row_matrix", "to_column", "to_row"]


def _vector_or_batch(name: str, x: Array, want: str) -> tuple[int, ...]:
    shape = shape_of(name, x)
    if len(shape) not in (1, 2):
        raise ConventionError(
            f"{name}: expected a 1-D vector or a 2-D {want}, got shape {shape} ({len(shape)}-D)"
        )
    return shape


def to_column(x: Array) -> Array:
    """Row form → column form: a row ``(1, n)`` or 1-D ``(n,)`` gives ``(n, 1)``; a batch of
    rows ``(N, n)`` gives ``(n, N)`` (one sample per column)."""
    shape = _vector_or_batch("x", x, "row vector (1, n) or batch of rows (N, n)")
    xp = namespace("x", x)
    if len(shape) == 1:
        return xp.reshape(x, (shape[0], 1))
    return xp.permute_dims(x, (1, 0))


def to_row(x: Array) -> Array:
    """Column form → row form: a column ``(n, 1)`` or 1-D ``(n,)`` gives ``(1, n)``; a matrix
    of columns ``(n, N)`` gives the batch of rows ``(N, n)``."""
    shape = _vector_or_batch("x", x, "column vector (n, 1) or matrix of columns (n, N)")
    xp = namespace("x", x)
    if len(shape) == 1:
        return xp.reshape(x, (1, shape[0]))
    return xp.permute_dims(x, (1, 0))


def _matrix(name: str, W: Array) -> Array:
    shape = shape_of(name, W)
    if len(shape) != 2:
        raise ConventionError(f"{name}: expected a 2-D matrix, got shape {shape}")
    xp = namespace(name, W)
    return xp.permute_dims(W, (1, 0))


def column_matrix(W_row: Array) -> Array:
    """``W_c = W_row.T``: the matrix of ``y_c = W_c x_c`` for the row expression
    ``y = x W_row`` (also converts the gradient with respect to ``W_row``)."""
    return _matrix("W_row", W_row)


def row_matrix(W_col: Array) -> Array:
    """``W = W_col.T``: the matrix of ``y = x W`` for the column expression
    ``y_c = W_col x_c`` (also converts the gradient with respect to ``W_col``)."""
    return _matrix("W_col", W_col)
