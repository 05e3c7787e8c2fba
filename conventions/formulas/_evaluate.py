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
from .._vec import vec
from ..operators import commutation
from .ast import (
    Commutation,
    Derivative,
    Differential,
    Expr,
    Identity,
    Indexed,
    IndexSum,
    Num,
    Ones,
    Relation,
    Scale,
    Sym,
)
from .errors import FormulaError
from .shapes import Typed, time_var_in
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
        if len(got) == 3:  # a stacked per-step value: time leads
            got = got[1:]
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
    indices: Mapping[str, int] | None = None,
    steps: Mapping[str, int] | None = None,
) -> Array:
    """The value of ``typed`` (a 2-D array) given the symbols' ``values``.

    * A symbol or per-step gradient indexed by the time index of a sum ``\\sum_t`` (``y[t]``,
      ``a[t-1]``, ``∇^{(t)}``) takes a stacked value, time leading (``T × rows × cols``);
      the sum runs over ``1..T`` (the upper limit's size, or the stack's length).
    * An element sum ``\\sum_j`` runs over the dimension ``j`` indexes, 1-based.
    * ``indices`` gives the free element indices (``{"i": 2}`` for ``W_{ij}`` with ``j``
      summed), 1-based as written.
    * ``steps`` gives free time indices (``{"t": 2}``), 1-based: a stacked value of a
      symbol indexed by ``t`` outside any sum over ``t`` takes that step's slice (a sum
      over ``t`` inside still runs over every step).
    * A differential ``d X`` is the directional derivative of ``X`` along the directions
      given as ``values[Differential(Sym(name))]`` (a symbol without one is held fixed).
    * ``:=`` evaluates its right-hand side; an equation raises (give one side).

    Raises :class:`FormulaError` for a missing value or one whose shape disagrees with
    its declaration.
    """
    arrays = [v for v in values.values() if hasattr(v, "shape")]
    xp = namespace("values", *arrays) if arrays else namespace("values", np.zeros(1))
    like = arrays[0] if arrays else np.zeros(1)
    dtype = like.dtype if hasattr(like, "dtype") else np.float64
    bound = bind_sizes(typed, values, sizes)
    evaluator = _Evaluator(values, bound, xp, dtype, like, dict(indices or {}))
    evaluator.times.update(steps or {})
    return evaluator.run(typed)


class _Evaluator:
    def __init__(
        self, values: Mapping[Any, Array], sizes: dict[str, int], xp: Any, dtype: Any, like: Any,
        indices: dict[str, int] | None = None,
    ) -> None:
        self.values = values
        self.sizes = sizes
        self.xp = xp
        self.dtype = dtype
        self.like = like
        self.indices: dict[str, int] = dict(indices or {})
        self.times: dict[str, int] = {}

    def stepped(self, key: Any, value: Array, label: str) -> Array:
        """The value at the current step of every time sum that indexes ``key``."""
        expr = key if isinstance(key, Expr) else Sym(key)
        for var, k in self.times.items():
            if time_var_in(expr, var):
                if len(value.shape) != 3:
                    raise FormulaError(
                        f"value of {label}: inside the sum over {var} it takes one value per "
                        f"step, stacked with time leading (3-D); got shape {tuple(value.shape)}"
                    )
                if k > value.shape[0]:
                    raise FormulaError(
                        f"value of {label}: step {var}={k} is past the {value.shape[0]} "
                        "stacked steps"
                    )
                return value[k - 1]
        return value
    def ints(self, shape: Shape, where: Expr) -> tuple[int, int]:
        try:
            return shape[0].value(self.sizes), shape[1].value(self.sizes)
        except FormulaError as exc:
            raise FormulaError(f"evaluating {where}: {exc.reason}") from None

    def lookup(self, key: Any, t: Typed, label: str) -> Array:
        if key not in self.values:
            raise FormulaError(f"no value given for {label}")
        value = self.stepped(key, self.values[key], label)
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
        if isinstance(e, IndexSum):
            return self.index_sum(t, self.run)
        if isinstance(e, Differential):
            return self.tangent(t.args[0])
        if isinstance(e, Relation):
            if e.op != ":=":
                raise FormulaError(f"evaluate: the relation {e.op} has no value")
            return self.run(t.args[1])
        if (name == "MatMul" and isinstance(t.args[0].expr, Commutation)
                and t.mode != "scalar"):
            return self.commute(t.args[0].expr, self.run(t.args[1]))
        args = [self.run(a) for a in t.args]
        if isinstance(e, Indexed):
            return self.element(e, args[0])
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
            return self.kron(args[0], args[1])
        if name == "Frobenius":
            return xp.reshape(xp.sum(args[0] * args[1]), (1, 1))
        if name == "Call":
            return self.call(e.func, args[0], t)  # type: ignore[attr-defined]
        if name == "Equation":
            raise FormulaError("evaluate: give one side of an equation, not the equation")
        raise FormulaError(f"cannot evaluate {name}")  # pragma: no cover

    # -- element indices and index sums ----------------------------------------------------
    def index_value(self, index: str, n: int, where: Indexed) -> int:
        if index.isdigit():
            k = int(index)
        elif index in self.indices:
            k = int(self.indices[index])
        else:
            raise FormulaError(
                f"evaluating {where}: no value for the free index {index!r}; give "
                f"indices={{{index!r}: ...}} (1-based)"
            )
        if not 1 <= k <= n:
            raise FormulaError(f"evaluating {where}: index {index}={k} is outside 1..{n}")
        return k - 1

    def element(self, e: Indexed, x: Array) -> Array:
        rows, cols = x.shape
        ix = e.indices
        if len(ix) == 2:
            i, j = self.index_value(ix[0], rows, e), self.index_value(ix[1], cols, e)
            return x[i : i + 1, j : j + 1]
        if rows == 1 or cols == 1:
            k = self.index_value(ix[0], rows * cols, e)
            return self.xp.reshape(self.xp.reshape(x, (-1,))[k], (1, 1))
        i = self.index_value(ix[0], rows, e)
        return x[i : i + 1, :]

    def extent(self, t: Typed) -> int:
        e = t.expr
        assert isinstance(e, IndexSum) and e.var is not None and t.extent is not None
        if not t.extent.unknowns and all(f in self.sizes for f in t.extent.factors):
            return t.extent.value(self.sizes)
        if t.mode == "time":  # the length of a stacked value
            for key, value in self.values.items():
                expr = key if isinstance(key, Expr) else Sym(key)
                if (isinstance(expr, (Sym, Derivative)) and time_var_in(expr, e.var)
                        and len(getattr(value, "shape", ())) == 3):
                    return int(value.shape[0])
        raise FormulaError(
            f"evaluating the sum over {e.var}: no value for its range {t.extent}; give the "
            "size or stacked per-step values"
        )

    def index_sum(self, t: Typed, run: Any) -> Array:
        e = t.expr
        assert isinstance(e, IndexSum) and e.var is not None
        n = self.extent(t)
        table = self.times if t.mode == "time" else self.indices
        saved = table.get(e.var)
        total = None
        try:
            for k in range(1, n + 1):
                table[e.var] = k
                term = run(t.args[0])
                total = term if total is None else total + term
        finally:
            if saved is None:
                table.pop(e.var, None)
            else:
                table[e.var] = saved
        if total is None:
            rows, cols = self.ints(t.shape, e)
            return self.xp.zeros((rows, cols), dtype=self.dtype)
        return total

    def commute(self, K: Commutation, v: Array) -> Array:
        """``K(m, n) v`` as a permutation of the rows of ``v``: column by column,
        ``vec(X) ↦ vec(Xᵀ)`` for ``X`` m × n (never a dense ``mn × mn`` matrix)."""
        m, n = K.m.value(self.sizes), K.n.value(self.sizes)
        c = v.shape[1]
        # vec(X) with X m×n column-major is X[i, j] at j*m + i: as (n, m, c) it is [j, i].
        stacked = self.xp.reshape(v, (n, m, c))
        return self.xp.reshape(self.xp.permute_dims(stacked, (1, 0, 2)), (m * n, c))

    # -- differentials (forward mode) ----------------------------------------------------
    def direction(self, t: Typed) -> Array:
        e = t.expr
        assert isinstance(e, Sym)
        key = Differential(e)
        if key not in self.values:
            return self.xp.zeros(self.ints(t.shape, e), dtype=self.dtype)
        value = self.stepped(key, self.values[key], f"d{e.name}")
        want = self.ints(t.shape, e)
        if tuple(value.shape) != want:
            if len(value.shape) == 1 and value.shape[0] == want[0] * want[1]:
                return self.xp.reshape(value, want)
            raise FormulaError(
                f"direction d{e.name}: expected shape {want}, got {tuple(value.shape)}"
            )
        return value

    def tangent(self, t: Typed) -> Array:
        """The differential of ``t``: linear in the directions of its symbols."""
        xp, e = self.xp, t.expr
        name = type(e).__name__
        zero = lambda: xp.zeros(self.ints(t.shape, e), dtype=self.dtype)  # noqa: E731
        if isinstance(e, Sym):
            return self.direction(t)
        if isinstance(e, (Num, Ones, Identity, Commutation, Derivative)):
            return zero()  # constants (a derivative inside d(...) is a given matrix)
        if isinstance(e, IndexSum):
            return self.index_sum(t, self.tangent)
        if isinstance(e, Differential):
            raise FormulaError("a differential inside a differential is not supported")
        d = [self.tangent(a) for a in t.args]
        if isinstance(e, Indexed):
            return self.element(e, d[0])
        if name == "Neg":
            return -d[0]
        if isinstance(e, Scale):
            return float(e.factor.value) * d[0]
        if name == "Transpose":
            return xp.permute_dims(d[0], (1, 0))
        if name == "Add":
            return d[0] + d[1]
        if name == "Sub":
            return d[0] - d[1]
        x = [self.run(a) for a in t.args]
        if name == "MatMul":
            if t.mode == "scalar":
                return d[0] * x[1] + x[0] * d[1]
            return d[0] @ x[1] + x[0] @ d[1]
        if name == "Hadamard":
            return d[0] * x[1] + x[0] * d[1]
        if name == "HadamardDiv":
            return d[0] / x[1] - x[0] * d[1] / (x[1] * x[1])
        if name == "Kron":
            return self.kron(d[0], x[1]) + self.kron(x[0], d[1])
        if name == "Frobenius":
            return xp.reshape(xp.sum(d[0] * x[1] + x[0] * d[1]), (1, 1))
        if name == "Power":
            return self.power_tangent(x[0], d[0], e.exponent, t.mode)  # type: ignore[attr-defined]
        if name == "Call":
            return self.call_tangent(e.func, x[0], d[0], t)  # type: ignore[attr-defined]
        raise FormulaError(f"cannot take the differential of {name}")  # pragma: no cover

    def kron(self, a: Array, b: Array) -> Array:
        (r1, c1), (r2, c2) = a.shape, b.shape
        return self.xp.reshape(a[:, None, :, None] * b[None, :, None, :], (r1 * r2, c1 * c2))

    def power_tangent(self, x: Array, dx: Array, k: int, mode: str) -> Array:
        xp = self.xp
        if mode == "entrywise" or (x.shape[0] == 1 or x.shape[1] == 1):
            return float(k) * x ** float(k - 1) * dx
        if k < 0:
            x = xp.linalg.inv(x)
            dx, k = -(x @ dx @ x), -k
        out = xp.zeros_like(x)
        for i in range(k):
            out = out + self.power(x, i, "matrix") @ dx @ self.power(x, k - 1 - i, "matrix")
        return out

    def call_tangent(self, func: str, x: Array, dx: Array, t: Typed) -> Array:
        xp = self.xp
        if func in ("diag", "vec", "vecr", "tr", "sum"):  # linear
            return self.call(func, dx, t)
        y = self.call(func, x, t)
        if func == "tanh":
            return (1.0 - y * y) * dx
        if func == "tanh'":  # d(1 - tanh²) = -2 tanh (1 - tanh²) dx
            th = xp.tanh(x)
            return -2.0 * th * y * dx
        if func == "sigmoid'":  # d(s - s²) = (1 - 2s) s (1 - s) dx
            sg = 1.0 / (1.0 + xp.exp(-x))
            return (1.0 - 2.0 * sg) * y * dx
        if func == "sigmoid":
            return y * (1.0 - y) * dx
        if func == "exp":
            return y * dx
        if func == "log":
            return dx / x
        if func == "softmax":
            return y * dx - y * xp.sum(y * dx)
        raise FormulaError(f"no differential for {func!r}")  # pragma: no cover

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
        if func == "tanh'":
            th = xp.tanh(x)
            return 1.0 - th * th
        if func == "sigmoid'":
            sg = 1.0 / (1.0 + xp.exp(-x))
            return sg * (1.0 - sg)
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
