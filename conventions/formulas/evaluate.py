"""Evaluate a typed formula on NumPy, torch or JAX arrays (any array-API namespace).

Values are given by symbol name (and, for derivatives that appear inside a formula, by
the :class:`~.ast.Derivative` node). A vector may be given 1-D; it is shaped as declared.
Sizes are read off the values (or given), so ``I`` and ``1`` get their numeric sizes.
Neither torch nor JAX is imported here: the namespace comes from the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._arrays import namespace
from ..operators import commutation
from ..vec import vec
from .ast import Commutation, Derivative, Expr, Identity, Num, Ones, Scale, Sym
from .errors import FormulaError
from .shapes import Typed
from .sizes import Shape, Size, format_shape

__all__ = ["bind_sizes", "evaluate"]

Array = Any


def bind_sizes(
    typed: Typed, values: Mapping[Any, Array], sizes: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Integer values of the size symbols, from ``sizes`` and the shapes of ``values``."""
    bound = dict(sizes or {})
    for node in _nodes(typed):
        key: Any = node.expr.name if isinstance(node.expr, Sym) else node.expr
        if not isinstance(node.expr, (Sym, Derivative)) or key not in values:
            continue
        got = tuple(int(s) for s in getattr(values[key], "shape", ()))
        if len(got) == 1:  # a 1-D vector: its length is the non-unit size
            dims = [s for s in node.shape if not s.is_one]
            if len(dims) == 1:
                _bind(dims[0], got[0], bound, node.expr)
            continue
        if len(got) == 2:
            for size, n in zip(node.shape, got, strict=True):
                _bind(size, n, bound, node.expr)
    return bound


def _bind(size: Size, n: int, bound: dict[str, int], where: Expr) -> None:
    free = [f for f in size.factors if f not in bound]
    if len(free) == 1 and free.count(free[0]) == 1:
        known = Size(size.coeff, tuple(f for f in size.factors if f in bound)).value(bound)
        if known and n % known == 0:
            bound[free[0]] = n // known


def _nodes(t: Typed) -> list[Typed]:
    out = [t]
    for a in t.args:
        out.extend(_nodes(a))
    return out


def evaluate(
    typed: Typed,
    values: Mapping[Any, Array],
    *,
    sizes: Mapping[str, int] | None = None,
) -> Array:
    """The value of ``typed`` (a 2-D array) given the symbols' ``values``.

    Raises :class:`FormulaError` for a missing value or one whose shape disagrees with
    its declaration.
    """
    arrays = [v for v in values.values() if hasattr(v, "shape")]
    xp = namespace("values", *arrays) if arrays else namespace("values", np.zeros(1))
    like = arrays[0] if arrays else np.zeros(1)
    dtype = like.dtype if hasattr(like, "dtype") else np.float64
    bound = bind_sizes(typed, values, sizes)
    return _Evaluator(values, bound, xp, dtype, like).run(typed)


class _Evaluator:
    def __init__(
        self, values: Mapping[Any, Array], sizes: dict[str, int], xp: Any, dtype: Any, like: Any
    ) -> None:
        self.values = values
        self.sizes = sizes
        self.xp = xp
        self.dtype = dtype
        self.like = like

    def ints(self, shape: Shape, where: Expr) -> tuple[int, int]:
        try:
            return shape[0].value(self.sizes), shape[1].value(self.sizes)
        except FormulaError as exc:
            raise FormulaError(f"evaluating {where}: {exc.reason}") from None

    def lookup(self, key: Any, t: Typed, label: str) -> Array:
        if key not in self.values:
            raise FormulaError(f"no value given for {label}")
        value = self.values[key]
        want = self.ints(t.shape, t.expr)
        got = tuple(int(s) for s in value.shape)
        if got == want:
            return value
        if len(got) == 1 and 1 in want and got[0] == want[0] * want[1]:
            return self.xp.reshape(value, want)
        raise FormulaError(
            f"value of {label}: expected shape {want} (declared {format_shape(t.shape)}), "
            f"got {got}"
        )

    def run(self, t: Typed) -> Array:
        xp, e = self.xp, t.expr
        name = type(e).__name__
        if isinstance(e, Sym):
            return self.lookup(e.name, t, f"symbol {e.name!r}")
        if isinstance(e, Derivative):
            return self.lookup(e, t, f"derivative {e}")
        if isinstance(e, Num):
            return xp.full((1, 1), float(e.value), dtype=self.dtype)
        if isinstance(e, Ones):
            return xp.ones(self.ints(t.shape, e), dtype=self.dtype)
        if isinstance(e, Identity):
            return xp.eye(self.ints(t.shape, e)[0], dtype=self.dtype)
        if isinstance(e, Commutation):
            K = commutation(e.m.value(self.sizes), e.n.value(self.sizes))
            return xp.astype(K.materialize(like=self.like), self.dtype)
        args = [self.run(a) for a in t.args]
        if name == "Neg":
            return -args[0]
        if isinstance(e, Scale):
            return float(e.factor.value) * args[0]
        if name == "Transpose":
            return xp.permute_dims(args[0], (1, 0))
        if name == "Power":
            return self.power(args[0], e.exponent, t.mode)  # type: ignore[attr-defined]
        if name == "Add":
            return args[0] + args[1]
        if name == "Sub":
            return args[0] - args[1]
        if name == "Hadamard":
            return args[0] * args[1]
        if name == "HadamardDiv":
            return args[0] / args[1]
        if name == "MatMul":
            return args[0] * args[1] if t.mode == "scalar" else args[0] @ args[1]
        if name == "Kron":
            (a, b), (r1, c1), (r2, c2) = args, args[0].shape, args[1].shape
            return xp.reshape(a[:, None, :, None] * b[None, :, None, :], (r1 * r2, c1 * c2))
        if name == "Frobenius":
            return xp.reshape(xp.sum(args[0] * args[1]), (1, 1))
        if name == "Call":
            return self.call(e.func, args[0], t)  # type: ignore[attr-defined]
        if name == "Equation":
            raise FormulaError("evaluate: give one side of an equation, not the equation")
        raise FormulaError(f"cannot evaluate {name}")  # pragma: no cover

    def power(self, x: Array, k: int, mode: str) -> Array:
        xp = self.xp
        if mode == "entrywise" or (x.shape[0] == 1 or x.shape[1] == 1):
            return x ** float(k)
        if k < 0:
            x, k = xp.linalg.inv(x), -k
        out = xp.eye(x.shape[0], dtype=self.dtype)
        for _ in range(k):
            out = out @ x
        return out

    def call(self, func: str, x: Array, t: Typed) -> Array:
        xp = self.xp
        if func == "tanh":
            return xp.tanh(x)
        if func == "sigmoid":
            return 1.0 / (1.0 + xp.exp(-x))
        if func == "exp":
            return xp.exp(x)
        if func == "log":
            return xp.log(x)
        if func == "softmax":
            z = xp.exp(x - xp.max(x))
            return z / xp.sum(z)
        if func == "diag":
            if t.mode == "vector":
                v = xp.reshape(x, (1, -1))
                return xp.eye(v.shape[1], dtype=self.dtype) * v
            return xp.reshape(xp.sum(x * xp.eye(x.shape[0], dtype=self.dtype), axis=1), (-1, 1))
        if func == "vec":
            return xp.reshape(vec(x), (-1, 1))
        if func == "vecr":
            return xp.reshape(x, (-1, 1))
        if func == "tr":
            return xp.reshape(xp.sum(x * xp.eye(x.shape[0], dtype=self.dtype)), (1, 1))
        if func == "sum":
            return xp.reshape(xp.sum(x), (1, 1))
        raise FormulaError(f"unknown function {func!r}")  # pragma: no cover
