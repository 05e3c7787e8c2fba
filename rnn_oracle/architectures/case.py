"""A concrete instance of a :class:`NetworkSpec`: every array, validated and read-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.case import FLOAT_DTYPES, _float_array, _index_array, repeat_steps
from rnn_oracle.errors import OracleError

OWNER = "NetworkCase"  # the name validation errors start with


@dataclass(frozen=True)
class NetworkCase:
    """Arrays for one evaluation of a :class:`NetworkSpec`; time leads, a batch is axis 1.

    ``arrays`` holds every differentiable array by name: the parameters
    (``spec.param_names``), the initial states (``spec.initial_state_names()``, each
    ``([B,] n_h)``) and the input sequences (``inputs``: ``(T, [B,] n_x)``, one step for
    one_to_many; ``decoder_inputs``: ``(T_dec, [B,] n_x)`` for encoder_decoder).
    ``targets`` (class indices ``(T_out, [B])`` for softmax_ce, ``(T_out, [B,] n_y)`` for
    linear_mse) or ``upstream`` (``(T_out, [B,] n_top)`` for head none) cover the steps
    the head sees. The constructor stores read-only copies.
    """

    spec: NetworkSpec
    arrays: Mapping[str, np.ndarray]
    targets: np.ndarray | None = None
    upstream: np.ndarray | None = None
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        spec = self.spec
        if not isinstance(spec, NetworkSpec):
            raise OracleError(
                f"NetworkCase.spec: expected a NetworkSpec, got {type(spec).__name__}"
            )
        if not isinstance(self.arrays, Mapping):
            raise OracleError(
                "NetworkCase.arrays: expected a mapping of arrays, got "
                f"{type(self.arrays).__name__}"
            )
        expected = (*spec.param_names, *spec.initial_state_names(), *spec.data_names)
        missing = [n for n in expected if n not in self.arrays]
        extra = [n for n in self.arrays if n not in expected]
        if missing or extra:
            raise OracleError(
                f"NetworkCase.arrays: expected exactly {list(expected)}; missing {missing}, "
                f"unexpected {extra}"
            )
        dtype = np.asarray(self.arrays["inputs"]).dtype.name
        if dtype not in FLOAT_DTYPES:
            raise OracleError(
                f"NetworkCase.arrays['inputs']: expected float32 or float64, got {dtype}"
            )
        x = np.asarray(self.arrays["inputs"])
        if x.ndim not in (2, 3) or x.shape[0] < 1:
            raise OracleError(
                f"NetworkCase.arrays['inputs']: expected shape (T, n_x) or (T, B, n_x) with "
                f"T ≥ 1, got {x.shape}"
            )
        batch = x.shape[1] if x.ndim == 3 else None
        lead: tuple[int, ...] = () if batch is None else (batch,)
        if spec.architecture == "one_to_many" and x.shape[0] != 1:
            raise OracleError(
                f"NetworkCase.arrays['inputs']: one_to_many reads one input, so T must be 1, "
                f"got shape {x.shape}"
            )
        shapes: dict[str, tuple[int, ...]] = dict(spec.param_shapes())
        shapes.update({n: (*lead, spec.n_h) for n in spec.initial_state_names()})
        shapes["inputs"] = (x.shape[0], *lead, spec.n_x)
        if spec.architecture == "encoder_decoder":
            dec = np.asarray(self.arrays["decoder_inputs"])
            if dec.ndim < 1 or dec.shape[0] < 1:
                raise OracleError(
                    "NetworkCase.arrays['decoder_inputs']: expected at least one step, "
                    f"got shape {dec.shape}"
                )
            shapes["decoder_inputs"] = (dec.shape[0], *lead, spec.n_x)
        arrays = {
            name: _float_array(f"arrays['{name}']", self.arrays[name], shapes[name], dtype,
                               owner=OWNER)
            for name in expected
        }
        for name in spec.initial_state_names():
            if spec.initial_kind(name) == "zero" and np.any(arrays[name] != 0):
                raise OracleError(
                    f"NetworkCase.arrays['{name}']: spec.initial_state makes it zero but it "
                    "has nonzero entries"
                )
        object.__setattr__(self, "arrays", arrays)

        out = (self.out_len, *lead)
        if spec.head == "softmax_ce":
            if self.targets is None:
                raise OracleError("NetworkCase.targets: softmax_ce needs class indices, got None")
            object.__setattr__(
                self, "targets", _index_array("targets", self.targets, out, spec.n_y,
                                              owner=OWNER)
            )
        elif spec.head == "linear_mse":
            if self.targets is None:
                raise OracleError(
                    f"NetworkCase.targets: linear_mse needs dense targets of shape "
                    f"{(*out, spec.n_y)}, got None"
                )
            object.__setattr__(
                self, "targets", _float_array("targets", self.targets, (*out, spec.n_y), dtype,
                                              owner=OWNER)
            )
        elif self.targets is not None:
            raise OracleError("NetworkCase.targets: head 'none' takes no targets (give upstream)")
        if spec.head == "none":
            if self.upstream is None:
                raise OracleError(
                    f"NetworkCase.upstream: head 'none' needs gradients of shape "
                    f"{(*out, spec.n_top)}, got None"
                )
            object.__setattr__(
                self, "upstream",
                _float_array("upstream", self.upstream, (*out, spec.n_top), dtype,
                             owner=OWNER),
            )
        elif self.upstream is not None:
            raise OracleError(
                f"NetworkCase.upstream: only head 'none' takes upstream, not {spec.head!r}"
            )

    # -- derived facts ------------------------------------------------------------------
    @property
    def batch(self) -> int | None:
        x = self.arrays["inputs"]
        return int(x.shape[1]) if x.ndim == 3 else None

    @property
    def dtype(self) -> str:
        return str(self.arrays["inputs"].dtype.name)

    @property
    def seq_len(self) -> int:
        """Steps the (first) recurrent block runs: ``T`` of ``inputs``."""
        return int(self.arrays["inputs"].shape[0])

    @property
    def out_len(self) -> int:
        """Steps the head sees (``T_out``)."""
        arch = self.spec.architecture
        if arch == "many_to_one":
            return 1
        if arch == "encoder_decoder":
            return int(self.arrays["decoder_inputs"].shape[0])
        if arch == "one_to_many":
            data = self.targets if self.targets is not None else self.upstream
            if data is None:
                raise OracleError("NetworkCase: one_to_many needs targets or upstream")
            return int(np.asarray(data).shape[0])
        return self.seq_len

    @property
    def steps(self) -> int:
        """The longest recurrence in the network (what float32 rounding grows with)."""
        arch = self.spec.architecture
        if arch == "encoder_decoder":
            return self.seq_len + self.out_len
        return self.out_len if arch == "one_to_many" else self.seq_len

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    def astype(self, dtype: str) -> NetworkCase:
        if dtype not in FLOAT_DTYPES:
            raise OracleError(
                f"NetworkCase.astype: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}"
            )
        return self.with_arrays(**{n: v.astype(dtype) for n, v in self.arrays.items()})

    def with_arrays(self, **arrays: Any) -> NetworkCase:
        """A copy with some arrays replaced (validated again)."""
        unknown = set(arrays) - set(self.arrays)
        if unknown:
            raise OracleError(
                f"NetworkCase.with_arrays: unknown name(s) {sorted(unknown)}; expected some "
                f"of {list(self.arrays)}"
            )
        targets = self.targets
        upstream = self.upstream
        if "inputs" in arrays and targets is not None and targets.dtype.kind == "f":
            targets = targets.astype(np.asarray(arrays["inputs"]).dtype)
        if "inputs" in arrays and upstream is not None:
            upstream = upstream.astype(np.asarray(arrays["inputs"]).dtype)
        return NetworkCase(
            spec=self.spec,
            arrays={**self.arrays, **arrays},
            targets=targets,
            upstream=upstream,
            seed=self.seed,
        )


def make_network_case(
    spec: NetworkSpec,
    seq_len: int,
    batch: int | None = None,
    seed: int = 0,
    dtype: str = "float64",
    *,
    out_len: int | None = None,
    scale: float = 1.0,
    coherent: bool = False,
) -> NetworkCase:
    """A random, deterministic :class:`NetworkCase` (same arguments, same bits).

    Args:
        spec: the network.
        seq_len: ``T`` of the input sequence (ignored by one_to_many, which reads one step).
        batch: batch size, or ``None`` for unbatched sequences.
        seed: seed of the generator.
        dtype: ``"float64"`` or ``"float32"``.
        scale: multiplies the weight scale ``1/sqrt(fan_in)`` (as in
            :func:`rnn_oracle.make_case`).
        out_len: steps the head sees for one_to_many and encoder_decoder (default:
            ``seq_len``, and ``seq_len + 1`` for encoder_decoder so that ``T_x ≠ T_y``).
        coherent: the targets (or upstream gradients) are one draw repeated at every step
            (as in :func:`rnn_oracle.make_case`).
    """
    if not isinstance(spec, NetworkSpec):
        raise OracleError(
            f"make_network_case: spec must be a NetworkSpec, got {type(spec).__name__}"
        )
    for name, value in (("seq_len", seq_len), ("out_len", out_len), ("batch", batch)):
        if value is None and name != "seq_len":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise OracleError(
                f"make_network_case: {name} must be a positive integer, got {value!r}"
            )
    if dtype not in FLOAT_DTYPES:
        raise OracleError(f"make_network_case: dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OracleError(f"make_network_case: seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise OracleError(
            f"make_network_case: scale must be a positive finite number, got {scale!r}"
        )

    rng = np.random.default_rng(seed)
    lead: tuple[int, ...] = () if batch is None else (batch,)
    arch = spec.architecture
    t_in = 1 if arch == "one_to_many" else seq_len
    t_out = {"many_to_one": 1, "encoder_decoder": out_len or seq_len + 1,
             "one_to_many": out_len or seq_len}.get(arch, seq_len)
    arrays: dict[str, np.ndarray] = {}
    for name, shape in spec.param_shapes().items():
        is_weight = name.rpartition(".")[2].startswith("W")
        std = scale / np.sqrt(shape[1]) if is_weight else 0.1 * scale
        arrays[name] = rng.standard_normal(shape) * std
    for name in spec.initial_state_names():
        arrays[name] = (
            np.zeros((*lead, spec.n_h)) if spec.initial_kind(name) == "zero"
            else np.tanh(rng.standard_normal((*lead, spec.n_h)))
        )
    arrays["inputs"] = rng.standard_normal((t_in, *lead, spec.n_x))
    if arch == "encoder_decoder":
        arrays["decoder_inputs"] = rng.standard_normal((t_out, *lead, spec.n_x))
    targets: np.ndarray | None = None
    upstream: np.ndarray | None = None
    per_step = lead if coherent else (t_out, *lead)  # drawn once and repeated, or every step
    if spec.head == "softmax_ce":
        targets = repeat_steps(rng.integers(0, spec.n_y, size=per_step), t_out, coherent)
    elif spec.head == "linear_mse":
        targets = repeat_steps(rng.standard_normal((*per_step, spec.n_y)), t_out,
                               coherent).astype(dtype)
    else:
        upstream = repeat_steps(rng.standard_normal((*per_step, spec.n_top)), t_out,
                                coherent).astype(dtype)
    return NetworkCase(
        spec=spec,
        arrays={k: v.astype(dtype) for k, v in arrays.items()},
        targets=targets,
        upstream=upstream,
        seed=seed,
    )
