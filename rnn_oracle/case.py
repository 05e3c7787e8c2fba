"""A concrete problem instance: parameters, inputs, targets and ``h0`` as NumPy arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_oracle.errors import OracleError
from rnn_oracle.spec import RNNSpec

FLOAT_DTYPES = ("float32", "float64")


def input_names(spec: RNNSpec) -> tuple[str, ...]:
    """:attr:`Case.input_names` of every case of ``spec``."""
    names = (*spec.param_names, "h0")
    return names if spec.inputs == "indices" else (*names, "inputs")


@dataclass(frozen=True)
class Case:
    """Arrays for one evaluation of an :class:`RNNSpec`, in canonical layout.

    Time is the leading axis; a batch, if any, is the second axis (rows).

    ======== =========================== ==========================================
    field    unbatched                   batched (``batch = B``)
    ======== =========================== ==========================================
    params   canonical shapes (see ``RNNSpec.param_shapes``)
    inputs   ``(T, n_x)``; ``(T,)`` ints  ``(T, B, n_x)``; ``(T, B)`` ints for indices
    targets  ``(T,)`` ints (softmax_ce)   ``(T, B)`` ints; ``(T, [B,] n_y)`` for mse
    upstream ``(T, n_h)`` (head none)     ``(T, B, n_h)``
    h0       ``(n_h,)``                   ``(B, n_h)``
    ======== =========================== ==========================================

    The constructor validates every array against the spec and stores read-only copies,
    so nothing the caller passed is mutated or aliased.
    """

    spec: RNNSpec
    params: Mapping[str, np.ndarray]
    inputs: np.ndarray
    h0: np.ndarray
    targets: np.ndarray | None = None
    upstream: np.ndarray | None = None
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        spec = self.spec
        if not isinstance(spec, RNNSpec):
            raise OracleError(f"Case.spec: expected an RNNSpec, got {type(spec).__name__}")
        if not isinstance(self.params, Mapping):
            raise OracleError(
                f"Case.params: expected a mapping of {list(spec.param_names)}, "
                f"got {type(self.params).__name__}"
            )
        missing = [n for n in spec.param_names if n not in self.params]
        extra = [n for n in self.params if n not in spec.param_names]
        if missing or extra:
            raise OracleError(
                f"Case.params: expected exactly {list(spec.param_names)}; "
                f"missing {missing}, unexpected {extra}"
            )
        first = np.asarray(self.params[spec.param_names[0]])
        dtype = first.dtype.name
        if dtype not in FLOAT_DTYPES:
            raise OracleError(
                f"Case.params['{spec.param_names[0]}']: expected float32 or float64, got {dtype}"
            )
        shapes = spec.param_shapes()
        params = {
            name: _float_array(f"params['{name}']", self.params[name], shapes[name], dtype)
            for name in spec.param_names
        }
        object.__setattr__(self, "params", params)

        inputs = np.asarray(self.inputs)
        if inputs.ndim == 0:
            raise OracleError("Case.inputs: expected a sequence over time, got a scalar")
        seq_len = inputs.shape[0]
        if seq_len < 1:
            raise OracleError("Case.inputs: expected at least one time step, got T = 0")
        batched = inputs.ndim == (2 if spec.inputs == "indices" else 3)
        batch = inputs.shape[1] if batched else None
        lead = (seq_len, batch) if batched else (seq_len,)
        if spec.inputs == "indices":
            object.__setattr__(
                self, "inputs", _index_array("inputs", inputs, lead, spec.n_x)
            )
        else:
            x = _float_array("inputs", inputs, (*lead, spec.n_x), dtype)
            if spec.inputs == "one_hot" and not _is_one_hot(x):
                raise OracleError(
                    "Case.inputs: spec.inputs is 'one_hot' but some rows are not one-hot "
                    "(each row must hold a single 1 and zeros elsewhere)"
                )
            object.__setattr__(self, "inputs", x)

        state_shape = (batch, spec.n_h) if batched else (spec.n_h,)
        h0 = _float_array("h0", self.h0, state_shape, dtype)
        if spec.initial_state == "zero" and np.any(h0 != 0):
            raise OracleError("Case.h0: spec.initial_state is 'zero' but h0 has nonzero entries")
        object.__setattr__(self, "h0", h0)

        if spec.head == "softmax_ce":
            if self.targets is None:
                raise OracleError("Case.targets: softmax_ce needs class indices, got None")
            object.__setattr__(
                self, "targets", _index_array("targets", self.targets, lead, spec.n_y)
            )
        elif spec.head == "linear_mse":
            if self.targets is None:
                raise OracleError(
                    f"Case.targets: linear_mse needs dense targets of shape "
                    f"{(*lead, spec.n_y)}, got None"
                )
            object.__setattr__(
                self,
                "targets",
                _float_array("targets", self.targets, (*lead, spec.n_y), dtype),
            )
        elif self.targets is not None:
            raise OracleError("Case.targets: head 'none' takes no targets (give upstream)")

        if spec.head == "none":
            if self.upstream is None:
                raise OracleError(
                    f"Case.upstream: head 'none' needs per-step gradients of shape "
                    f"{(*lead, spec.n_h)}, got None"
                )
            object.__setattr__(
                self, "upstream", _float_array("upstream", self.upstream, (*lead, spec.n_h), dtype)
            )
        elif self.upstream is not None:
            raise OracleError(f"Case.upstream: only head 'none' takes upstream, not {spec.head!r}")

    # -- derived facts ------------------------------------------------------------------------
    @property
    def seq_len(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def batch(self) -> int | None:
        """The batch size, or ``None`` for an unbatched case."""
        return int(self.h0.shape[0]) if self.h0.ndim == 2 else None

    @property
    def dtype(self) -> str:
        return str(self.h0.dtype.name)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the differentiable arrays: the parameters, ``h0`` and, unless the
        inputs are class indices, ``inputs``."""
        return input_names(self.spec)

    def arrays(self) -> dict[str, np.ndarray]:
        """The differentiable arrays by name (see :attr:`input_names`)."""
        out = dict(self.params)
        out["h0"] = self.h0
        if self.spec.inputs != "indices":
            out["inputs"] = self.inputs
        return out

    def astype(self, dtype: str) -> Case:
        """The same case with every float array cast to ``dtype`` (exact for float32 → 64)."""
        if dtype not in FLOAT_DTYPES:
            raise OracleError(f"Case.astype: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
        return self.with_arrays(**{n: v.astype(dtype) for n, v in self.arrays().items()})

    def with_arrays(self, **arrays: Any) -> Case:
        """A copy with some differentiable arrays replaced (validated again)."""
        unknown = set(arrays) - set(self.input_names)
        if unknown:
            raise OracleError(
                f"Case.with_arrays: unknown name(s) {sorted(unknown)}; "
                f"expected some of {list(self.input_names)}"
            )
        params = {n: arrays.get(n, v) for n, v in self.params.items()}
        return Case(
            spec=self.spec,
            params=params,
            inputs=arrays.get("inputs", self.inputs),
            h0=arrays.get("h0", self.h0),
            targets=self.targets,
            upstream=self.upstream,
            seed=self.seed,
        )


def make_case(
    spec: RNNSpec,
    seq_len: int,
    batch: int | None = None,
    seed: int = 0,
    dtype: str = "float64",
    *,
    scale: float = 1.0,
    coherent: bool = False,
) -> Case:
    """A random, deterministic :class:`Case` for ``spec``.

    The same arguments give bitwise-identical arrays on every run and platform
    (NumPy's ``PCG64`` generator, drawn in a fixed order, in float64, then cast).

    Args:
        spec: the network.
        seq_len: number of time steps ``T`` (at least 1).
        batch: batch size, or ``None`` for an unbatched sequence.
        seed: seed of the generator.
        dtype: ``"float64"`` or ``"float32"``.
        scale: multiplies the weight scale ``1/sqrt(fan_in)``; a scale of 3 or more drives
            tanh and sigmoid into saturation.
        coherent: the targets (or upstream gradients) are one draw repeated at every step,
            so the gradients add up over time instead of cancelling (every other array is
            the same as without).
    """
    if not isinstance(spec, RNNSpec):
        raise OracleError(f"make_case: spec must be an RNNSpec, got {type(spec).__name__}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise OracleError(f"make_case: seq_len must be a positive integer, got {seq_len!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise OracleError(f"make_case: batch must be None or a positive integer, got {batch!r}")
    if dtype not in FLOAT_DTYPES:
        raise OracleError(f"make_case: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OracleError(f"make_case: seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise OracleError(f"make_case: scale must be a positive finite number, got {scale!r}")

    rng = np.random.default_rng(seed)
    lead = (seq_len,) if batch is None else (seq_len, batch)
    fan_in = {"W_hh": spec.n_h, "W_xh": spec.n_x, "b_h": 1, "W_hy": spec.n_h, "b_y": 1}
    params = {}
    for name, shape in spec.param_shapes().items():
        std = scale / np.sqrt(fan_in[name]) if name.startswith("W") else 0.1 * scale
        params[name] = rng.standard_normal(shape) * std
    if spec.inputs == "dense":
        inputs = rng.standard_normal((*lead, spec.n_x))
    else:
        indices = rng.integers(0, spec.n_x, size=lead)
        inputs = indices if spec.inputs == "indices" else np.eye(spec.n_x)[indices]  # type: ignore[assignment]
    state_shape = (spec.n_h,) if batch is None else (batch, spec.n_h)
    h0 = (
        np.zeros(state_shape)
        if spec.initial_state == "zero"
        else np.tanh(rng.standard_normal(state_shape))
    )
    targets: np.ndarray | None = None
    upstream: np.ndarray | None = None
    per_step = lead[1:] if coherent else lead  # drawn once and repeated, or every step
    if spec.head == "softmax_ce":
        targets = repeat_steps(rng.integers(0, spec.n_y, size=per_step), seq_len, coherent)
    elif spec.head == "linear_mse":
        targets = repeat_steps(rng.standard_normal((*per_step, spec.n_y)), seq_len, coherent)
    else:
        upstream = repeat_steps(rng.standard_normal((*per_step, spec.n_h)), seq_len, coherent)

    def cast(a: np.ndarray) -> np.ndarray:
        return a.astype(dtype) if a.dtype.kind == "f" else a

    return Case(
        spec=spec,
        params={k: cast(v) for k, v in params.items()},
        inputs=cast(inputs),
        h0=cast(h0),
        targets=None if targets is None else cast(targets),
        upstream=None if upstream is None else cast(upstream),
        seed=seed,
    )


def repeat_steps(drawn: np.ndarray, steps: int, coherent: bool) -> np.ndarray:
    """``drawn`` as it is, or (``coherent``) one step's draw repeated ``steps`` times."""
    return np.repeat(drawn[None], steps, axis=0) if coherent else drawn


def _float_array(
    name: str, value: Any, shape: tuple[int | None, ...], dtype: str, owner: str = "Case"
) -> np.ndarray:
    try:
        arr = np.array(value, dtype=None, copy=True)
    except (TypeError, ValueError) as exc:
        raise OracleError(f"{owner}.{name}: cannot be read as an array ({exc})") from exc
    if arr.shape != shape:
        raise OracleError(f"{owner}.{name}: expected shape {shape}, got {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise OracleError(f"{owner}.{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(dtype)
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise OracleError(
            f"{owner}.{name}: expected finite numbers, got {arr[bad]} at index {bad}"
        )
    arr.setflags(write=False)
    return arr


def _index_array(
    name: str, value: Any, shape: tuple[int | None, ...], bound: int, owner: str = "Case"
) -> np.ndarray:
    arr = np.array(value, copy=True)
    if arr.shape != shape:
        raise OracleError(f"{owner}.{name}: expected integer class indices of shape {shape}, "
                          f"got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise OracleError(f"{owner}.{name}: expected integer class indices, got dtype {arr.dtype}")
    out_of_range = (arr < 0) | (arr >= bound)
    if np.any(out_of_range):
        pos = tuple(int(i) for i in np.argwhere(out_of_range)[0])
        raise OracleError(
            f"{owner}.{name}: class index {int(arr[pos])} at position {pos} is out of range "
            f"[0, {bound})"
        )
    arr = arr.astype(np.int64)
    arr.setflags(write=False)
    return arr


def _is_one_hot(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)) and np.all(x.sum(axis=-1) == 1))
