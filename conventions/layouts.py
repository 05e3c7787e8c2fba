"""Derivative layouts: one internal index tensor, every named layout a transpose or reshape.

The internal form of the derivative of ``Y`` (shape ``out_shape``) by ``X`` (shape
``in_shape``) is the index tensor ``J[out..., in...] = dY[out...] / dX[in...]`` — what
``jax.jacrev`` and ``torch.func.jacrev`` return. :func:`to_layout` turns ``J`` into a named
layout and :func:`from_layout` turns it back, exactly (only transposes and reshapes).

Layouts (``m, n`` are the sizes of 1-D ``Y, X``; ``X`` of shape ``(p, q)``)::

    "tensor"            J itself, shape out_shape + in_shape
    "input_first"       J with input axes first (SymPy order), shape in_shape + out_shape
    "magnus_neudecker"  d vec Y / d (vec X)^T, column-major vec: (prod(out), prod(in))
    "row_major"         the same with row-major vecr (C-order reshape of J)
    "numerator"         ds/dx 1×n, dy/ds m×1, dy/dx m×n, ds/dX q×p, dY/ds p×q;
                        other cases need flatten="vec" or "vecr": (prod(out), prod(in))
    "denominator"       the transpose of "numerator": ds/dx n×1, dy/dx n×m, ds/dX p×q, ...
    "mixed"             scalar output: the gradient, shaped like X (1-D if flattened);
                        otherwise "numerator"

A layout that is not defined without choosing a flattening (numerator layout of a
vector-by-matrix derivative, say) is refused with :class:`ConventionError` naming the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._arrays import Array, Shape, namespace, prod, shape_arg, shape_of
from .errors import ConventionError

__all__ = [
    "FLATTENINGS",
    "LAYOUTS",
    "Flatten",
    "Layout",
    "from_layout",
    "layout_shape",
    "to_layout",
]

Layout = Literal[
    "tensor", "input_first", "magnus_neudecker", "row_major", "numerator", "denominator", "mixed"
]
Flatten = Literal["vec", "vecr"]

LAYOUTS: tuple[str, ...] = (
    "tensor",
    "input_first",
    "magnus_neudecker",
    "row_major",
    "numerator",
    "denominator",
    "mixed",
)
"""The known layout names."""

FLATTENINGS: tuple[str, ...] = ("vec", "vecr")
"""``"vec"``: column-major (Magnus–Neudecker); ``"vecr"``: row-major (C order)."""

_FLATTENABLE = ("numerator", "denominator", "mixed")

_Kind = Literal["identity", "input_first", "matrix", "transpose", "flat", "flat1"]


@dataclass(frozen=True)
class _Plan:
    """How ``J`` becomes the layout: ``kind`` (with ``order`` for flattening), then maybe a
    2-D transpose; ``shape`` is the resulting shape."""

    kind: _Kind
    order: str
    transpose: bool
    shape: Shape


def _describe(o: Shape, i: Shape) -> str:
    names = {0: "scalar", 1: "vector", 2: "matrix"}
    return (
        f"a {names.get(len(o), f'{len(o)}-D tensor')} output of shape {o} by a "
        f"{names.get(len(i), f'{len(i)}-D tensor')} input of shape {i}"
    )


def _plan(layout: object, o: Shape, i: Shape, flatten: object) -> _Plan:
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ConventionError(
            f"layout: expected one of {', '.join(repr(x) for x in LAYOUTS)}; got {layout!r}"
        )
    if flatten is not None and (not isinstance(flatten, str) or flatten not in FLATTENINGS):
        raise ConventionError(
            f"flatten: expected None, 'vec' (column-major) or 'vecr' (row-major); got {flatten!r}"
        )
    if flatten is not None and layout not in _FLATTENABLE:
        raise ConventionError(
            f"flatten: applies only to layouts {', '.join(repr(x) for x in _FLATTENABLE)}; "
            f"layout {layout!r} fixes its own form, so pass flatten=None (got {flatten!r})"
        )
    P, Q = prod(o), prod(i)
    if layout == "tensor":
        return _Plan("identity", "", False, o + i)
    if layout == "input_first":
        return _Plan("input_first", "", False, i + o)
    if layout == "magnus_neudecker":
        return _Plan("flat", "vec", False, (P, Q))
    if layout == "row_major":
        return _Plan("flat", "vecr", False, (P, Q))
    if layout == "mixed" and len(o) == 0:
        if flatten is None:
            return _Plan("identity", "", False, i)
        return _Plan("flat1", str(flatten), False, (Q,))
    # numerator, denominator, and mixed for a non-scalar output
    transpose = layout == "denominator"
    if flatten is not None:
        plan = _Plan("flat", str(flatten), transpose, (P, Q))
    elif len(o) <= 1 and len(i) <= 1:
        plan = _Plan("matrix", "", transpose, (o[0] if o else 1, i[0] if i else 1))
    elif len(o) == 0 and len(i) == 2:
        plan = _Plan("transpose", "", transpose, (i[1], i[0]))
    elif len(o) == 2 and len(i) == 0:
        plan = _Plan("identity", "", transpose, o)
    else:
        raise ConventionError(
            f"layout: {layout!r} is ambiguous for {_describe(o, i)} (order "
            f"{len(o) + len(i)}): no {layout} matrix exists without a flattening. Choose "
            "flatten='vec' (column-major, Magnus–Neudecker) or flatten='vecr' (row-major), "
            "or use layout 'tensor', 'input_first', 'magnus_neudecker' or 'row_major'"
        )
    if transpose:
        plan = _Plan(plan.kind, plan.order, True, (plan.shape[1], plan.shape[0]))
    return plan


def _shapes(out_shape: object, in_shape: object) -> tuple[Shape, Shape]:
    return shape_arg("out_shape", out_shape), shape_arg("in_shape", in_shape)


def layout_shape(
    layout: Layout | str,
    *,
    out_shape: Shape | int,
    in_shape: Shape | int,
    flatten: Flatten | None = None,
) -> Shape:
    """The shape of the derivative in ``layout`` (raises ``ConventionError`` if undefined)."""
    o, i = _shapes(out_shape, in_shape)
    return _plan(layout, o, i, flatten).shape


def _rev(n: int, start: int = 0) -> tuple[int, ...]:
    return tuple(range(start + n - 1, start - 1, -1))


def to_layout(
    J: Array,
    layout: Layout | str,
    *,
    out_shape: Shape | int,
    in_shape: Shape | int,
    flatten: Flatten | None = None,
) -> Array:
    """The index tensor ``J`` (shape ``out_shape + in_shape``) in the named ``layout``."""
    o, i = _shapes(out_shape, in_shape)
    plan = _plan(layout, o, i, flatten)
    got = shape_of("J", J)
    if got != o + i:
        raise ConventionError(
            f"J: expected the index tensor of shape out_shape + in_shape = {o + i}, got shape {got}"
        )
    xp = namespace("J", J)
    a, b = len(o), len(i)
    if plan.kind == "identity":
        M = J
    elif plan.kind == "input_first":
        M = xp.permute_dims(J, tuple(range(a, a + b)) + tuple(range(a)))
    elif plan.kind == "matrix":
        M = xp.reshape(J, plan.shape[::-1] if plan.transpose else plan.shape)
    elif plan.kind == "transpose":
        M = xp.permute_dims(J, (1, 0))
    else:  # "flat" to (P, Q) or "flat1" to (Q,)
        target = (prod(o), prod(i)) if plan.kind == "flat" else (prod(i),)
        if plan.order == "vec":
            J = xp.permute_dims(J, _rev(a) + _rev(b, a))
        M = xp.reshape(J, target)
    if plan.transpose:
        M = xp.permute_dims(M, (1, 0))
    return M


def from_layout(
    M: Array,
    layout: Layout | str,
    *,
    out_shape: Shape | int,
    in_shape: Shape | int,
    flatten: Flatten | None = None,
) -> Array:
    """Inverse of :func:`to_layout`: the index tensor ``J`` (shape ``out_shape + in_shape``)."""
    o, i = _shapes(out_shape, in_shape)
    plan = _plan(layout, o, i, flatten)
    got = shape_of("M", M)
    if got != plan.shape:
        raise ConventionError(
            f"M: expected shape {plan.shape} for layout {layout!r}"
            f"{'' if flatten is None else f' with flatten={flatten!r}'} of "
            f"{_describe(o, i)}, got shape {got}"
        )
    xp = namespace("M", M)
    a, b = len(o), len(i)
    if plan.transpose:
        M = xp.permute_dims(M, (1, 0))
    if plan.kind == "identity":
        return M
    if plan.kind == "input_first":
        return xp.permute_dims(M, tuple(range(b, a + b)) + tuple(range(b)))
    if plan.kind == "matrix":
        return xp.reshape(M, o + i)
    if plan.kind == "transpose":
        return xp.permute_dims(M, (1, 0))
    # "flat" / "flat1"
    if plan.order == "vec":
        T = xp.reshape(M, o[::-1] + i[::-1])
        return xp.permute_dims(T, _rev(a) + _rev(b, a))
    return xp.reshape(M, o + i)
