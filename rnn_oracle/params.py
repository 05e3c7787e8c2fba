"""Named parameter conventions: how other texts and libraries write the canonical network.

A :class:`ParamConvention` maps each of a convention's parameter names to an expression
of one canonical parameter — ``"W_hh"`` or its transpose ``"W_hh.T"`` — and says how data
are laid out: row or column vectors, where time and batch sit, how inputs come, and the
shape of biases and states. Conversions are exact (transposes and reshapes only), so
round trips are bitwise. Transposes go through :mod:`conventions` (a row-vector
``y = x W`` is the column-vector ``y = Wᵀ x``).

Two user parameters may map to one canonical parameter (torch's ``bias_ih`` and
``bias_hh`` both feed ``b_h``): to canonical they are summed; from canonical the first
receives ``b_h`` and the others zero; every one of them receives the canonical gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from conventions import column_matrix, row_matrix
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.errors import OracleError
from rnn_oracle.spec import PARAM_NAMES, RNNSpec

Vectors = Literal["row", "column"]
SequenceLayout = Literal["time_major", "batch_major"]
BiasShape = Literal["flat", "column", "row"]
StateShape = Literal["flat", "column", "layered"]


def _to_numpy(name: str, value: Any) -> np.ndarray:
    from backends import BackendError, backend_of

    if isinstance(value, np.ndarray):
        return value
    try:
        return backend_of(value).to_numpy(value)
    except BackendError:
        try:
            return np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise OracleError(f"{name}: cannot be read as an array ({exc})") from exc


@dataclass(frozen=True)
class ParamConvention:
    """One way of writing the canonical network's parameters and data.

    Attributes:
        name: the convention's name (``"custom"`` for a user's own).
        params: user name → ``"<canonical>"`` or ``"<canonical>.T"`` (a transpose).
        vectors: ``"row"`` (``h = x W + …``) or ``"column"`` (``h = W x + …``); informative —
            the mapping's transposes carry the mathematics.
        sequence_layout: for batched sequences, ``"time_major"`` ``(T, B, n)`` or
            ``"batch_major"`` ``(B, T, n)``.
        inputs: how this convention gives inputs: ``"dense"``, ``"one_hot"`` or
            ``"indices"``.
        bias_shape: biases as ``(n,)`` (``"flat"``), ``(n, 1)`` (``"column"``) or ``(1, n)``.
        state_shape: ``h0`` and per-step vectors as ``(n,)``/``(B, n)`` (``"flat"``), as
            columns ``(n, 1)`` (``"column"``, unbatched only), or with a leading layer axis
            ``(1, [B,] n)`` (``"layered"``, torch's ``h_0``).
        absent: canonical parameters the convention does not have; they are zero.
        description: how the convention writes the network.
    """

    name: str
    params: Mapping[str, str]
    vectors: Vectors = "column"
    sequence_layout: SequenceLayout = "time_major"
    inputs: Literal["dense", "one_hot", "indices"] = "dense"
    bias_shape: BiasShape = "flat"
    state_shape: StateShape = "flat"
    absent: tuple[str, ...] = ()
    description: str = ""
    _parsed: dict[str, tuple[str, bool]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping) or not self.params:
            raise OracleError(
                f"convention {self.name!r}: params must be a non-empty mapping of user name "
                f"to canonical expression such as {{'Wx': 'W_xh.T'}}, got {self.params!r}"
            )
        for fld, value, choices in (
            ("vectors", self.vectors, ("row", "column")),
            ("sequence_layout", self.sequence_layout, ("time_major", "batch_major")),
            ("inputs", self.inputs, ("dense", "one_hot", "indices")),
            ("bias_shape", self.bias_shape, ("flat", "column", "row")),
            ("state_shape", self.state_shape, ("flat", "column", "layered")),
        ):
            if value not in choices:
                raise OracleError(
                    f"convention {self.name!r}: {fld} must be one of {choices}, got {value!r}"
                )
        parsed: dict[str, tuple[str, bool]] = {}
        for user, expr in self.params.items():
            if not isinstance(user, str) or not isinstance(expr, str):
                raise OracleError(
                    f"convention {self.name!r}: expected str -> str, got {user!r} -> {expr!r}"
                )
            base, transposed = (expr[:-2], True) if expr.endswith(".T") else (expr, False)
            if base not in PARAM_NAMES:
                raise OracleError(
                    f"convention {self.name!r}: {user!r} maps to {expr!r}; expected one of "
                    f"{', '.join(PARAM_NAMES)}, optionally followed by '.T'"
                )
            if transposed and base.startswith("b"):
                raise OracleError(
                    f"convention {self.name!r}: {user!r} maps to {expr!r}, but a bias is a "
                    "vector; give its shape with bias_shape instead of a transpose"
                )
            parsed[user] = (base, transposed)
        for name in self.absent:
            if name not in PARAM_NAMES or name in {b for b, _ in parsed.values()}:
                raise OracleError(
                    f"convention {self.name!r}: absent parameter {name!r} must be a canonical "
                    "name the mapping does not use"
                )
        object.__setattr__(self, "_parsed", parsed)

    # -- parameters -------------------------------------------------------------------------
    def canonical_of(self, user_name: str) -> tuple[str, bool]:
        """``(canonical name, transposed?)`` for one of the convention's names."""
        if user_name not in self._parsed:
            raise OracleError(
                f"convention {self.name!r} has no parameter {user_name!r}; "
                f"its parameters are {list(self._parsed)}"
            )
        return self._parsed[user_name]

    def names_for(self, spec: RNNSpec) -> tuple[str, ...]:
        """The convention's parameter names that ``spec`` uses, in declaration order."""
        return tuple(u for u, (c, _) in self._parsed.items() if c in spec.param_names)

    def user_shapes(self, spec: RNNSpec) -> dict[str, tuple[int, ...]]:
        """The shape the convention implies for each of its parameters under ``spec``."""
        self._check_covers(spec)
        canonical = spec.param_shapes()
        shapes = {}
        for user in self.names_for(spec):
            base, transposed = self._parsed[user]
            shape = canonical[base]
            if transposed:
                shape = shape[::-1]
            elif len(shape) == 1 and self.bias_shape != "flat":
                shape = (shape[0], 1) if self.bias_shape == "column" else (1, shape[0])
            shapes[user] = shape
        return shapes

    def _check_covers(self, spec: RNNSpec) -> None:
        covered = {c for c, _ in self._parsed.values()} | set(self.absent)
        missing = [n for n in spec.param_names if n not in covered]
        if missing:
            raise OracleError(
                f"convention {self.name!r} names no parameter for canonical {missing}; "
                f"it covers {sorted(covered)} (spec head {spec.head!r})"
            )

    def _user_arrays(self, what: str, arrays: Mapping[str, Any], spec: RNNSpec) -> dict[str, Any]:
        if not isinstance(arrays, Mapping):
            raise OracleError(f"{what}: expected a mapping of names to arrays, got "
                              f"{type(arrays).__name__}")
        shapes = self.user_shapes(spec)
        missing = [n for n in shapes if n not in arrays]
        extra = [n for n in arrays if n not in shapes]
        if missing or extra:
            raise OracleError(
                f"{what}: convention {self.name!r} expects {list(shapes)}; missing {missing}, "
                f"unexpected {extra}"
            )
        out = {}
        for user, shape in shapes.items():
            value = _to_numpy(f"{what}[{user!r}]", arrays[user])
            if value.shape != shape:
                base, transposed = self._parsed[user]
                implied = f"{base}.T" if transposed else base
                raise OracleError(
                    f"{what}[{user!r}]: convention {self.name!r} maps it to {implied}, which "
                    f"implies shape {shape}; got {value.shape}"
                )
            out[user] = value
        return out

    def _canonical_arrays(
        self, what: str, arrays: Mapping[str, Any], spec: RNNSpec
    ) -> dict[str, np.ndarray]:
        shapes = spec.param_shapes()
        missing = [n for n in spec.param_names if n not in arrays]
        if missing:
            raise OracleError(f"{what}: missing canonical {missing}; expected {list(shapes)}")
        out = {}
        for name in spec.param_names:
            value = _to_numpy(f"{what}[{name!r}]", arrays[name])
            if value.shape != shapes[name]:
                raise OracleError(
                    f"{what}[{name!r}]: expected canonical shape {shapes[name]}, got {value.shape}"
                )
            out[name] = value
        return out

    def _from_user(self, user: str, value: np.ndarray) -> np.ndarray:
        base, transposed = self._parsed[user]
        if transposed:
            # A transposed matrix belongs to the other orientation: row W ↔ column Wᵀ.
            return np.array(column_matrix(value), copy=True)
        return np.array(value.reshape(-1) if base.startswith("b") else value, copy=True)

    def _to_user(self, user: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        _, transposed = self._parsed[user]
        if transposed:
            return np.array(row_matrix(value), copy=True)
        return np.array(value.reshape(shape), copy=True)

    def to_canonical(self, params: Mapping[str, Any], spec: RNNSpec) -> dict[str, np.ndarray]:
        """The user's parameters as canonical ``W_hh, W_xh, b_h[, W_hy, b_y]``.

        Parameters mapped to the same canonical one are summed (an all-zero addend is
        skipped, so a round trip stays bitwise exact); absent ones are zero.
        """
        user = self._user_arrays("params", params, spec)
        out: dict[str, np.ndarray] = {}
        for name, value in user.items():
            base = self._parsed[name][0]
            converted = self._from_user(name, value)
            if base in out:
                if np.any(converted):
                    out[base] = out[base] + converted
            else:
                out[base] = converted
        shapes = spec.param_shapes()
        for name in self.absent:
            if name in shapes:
                dtype = next(iter(out.values())).dtype if out else np.float64
                out[name] = np.zeros(shapes[name], dtype=dtype)
        return {n: out[n] for n in spec.param_names}

    def from_canonical(self, params: Mapping[str, Any], spec: RNNSpec) -> dict[str, np.ndarray]:
        """Canonical parameters in this convention's names and shapes.

        Of several names for one canonical parameter the first receives it and the others
        zero. An absent parameter must be zero: the convention cannot express anything else.
        """
        canonical = self._canonical_arrays("params", params, spec)
        for name in self.absent:
            if name in canonical and np.any(canonical[name]):
                raise OracleError(
                    f"params[{name!r}]: convention {self.name!r} has no {name}, so it must be "
                    "zero to be expressed in it"
                )
        seen: set[str] = set()
        out = {}
        for user, shape in self.user_shapes(spec).items():
            base = self._parsed[user][0]
            value = canonical[base] if base not in seen else np.zeros_like(canonical[base])
            seen.add(base)
            out[user] = self._to_user(user, value, shape)
        return out

    def grads_to_canonical(self, grads: Mapping[str, Any], spec: RNNSpec) -> dict[str, np.ndarray]:
        """The user's gradients as canonical gradients (absent parameters omitted).

        For several names of one canonical parameter the first one's gradient is taken;
        :meth:`duplicate_groups` lists them, so a checker can hold every one to it.
        """
        user = self._user_arrays("grads", grads, spec)
        out: dict[str, np.ndarray] = {}
        for name, value in user.items():
            base = self._parsed[name][0]
            out.setdefault(base, self._from_user(name, value))
        return {n: out[n] for n in spec.param_names if n in out}

    def grads_from_canonical(
        self, grads: Mapping[str, Any], spec: RNNSpec
    ) -> dict[str, np.ndarray]:
        """Canonical gradients in this convention: every name receives its parameter's
        gradient (torch's two biases both get ``∂J/∂b_h``)."""
        present = [n for n in spec.param_names if n not in self.absent]
        sub = spec.param_shapes()
        canonical = {
            n: _to_numpy(f"grads[{n!r}]", grads[n]) for n in present if n in grads
        }
        missing = [n for n in present if n not in canonical]
        if missing:
            raise OracleError(f"grads: missing canonical {missing}; expected {present}")
        for n, v in canonical.items():
            if v.shape != sub[n]:
                raise OracleError(f"grads[{n!r}]: expected canonical shape {sub[n]}, got {v.shape}")
        return {
            user: self._to_user(user, canonical[self._parsed[user][0]], shape)
            for user, shape in self.user_shapes(spec).items()
        }

    def duplicate_groups(self) -> dict[str, tuple[str, ...]]:
        """Canonical names that several user names map to, with those names."""
        groups: dict[str, list[str]] = {}
        for user, (base, _) in self._parsed.items():
            groups.setdefault(base, []).append(user)
        return {b: tuple(u) for b, u in groups.items() if len(u) > 1}

    # -- data -------------------------------------------------------------------------------
    def sequence_to_user(self, seq: Any) -> np.ndarray:
        """A canonical ``(T, [B,] n)`` (or ``(T, [B])`` index) sequence in this layout."""
        a = _to_numpy("sequence", seq)
        batched = a.ndim == 3 or (a.ndim == 2 and a.dtype.kind in "iu")
        if batched and self.sequence_layout == "batch_major":
            a = np.swapaxes(a, 0, 1)
        if not batched and self.state_shape == "column" and a.dtype.kind == "f":
            a = a[..., None]
        return a

    def sequence_to_canonical(self, seq: Any) -> np.ndarray:
        """The inverse of :meth:`sequence_to_user`."""
        a = _to_numpy("sequence", seq)
        if self.state_shape == "column" and a.dtype.kind == "f":
            if a.ndim != 3 or a.shape[-1] != 1:
                raise OracleError(
                    f"sequence: convention {self.name!r} gives per-step column vectors "
                    f"(T, n, 1); got shape {a.shape}"
                )
            return a[..., 0]
        batched = a.ndim == 3 or (a.ndim == 2 and a.dtype.kind in "iu")
        if batched and self.sequence_layout == "batch_major":
            a = np.swapaxes(a, 0, 1)
        return a

    def state_to_user(self, h: Any) -> np.ndarray:
        """A canonical ``([B,] n_h)`` state (such as ``h0``) in this convention's shape."""
        a = _to_numpy("h0", h)
        if self.state_shape == "column":
            if a.ndim != 1:
                raise OracleError(
                    f"h0: convention {self.name!r} uses column vectors, batch-free; "
                    f"got a batched state of shape {a.shape}"
                )
            return a[:, None]
        if self.state_shape == "layered":
            return a[None, ...]
        return a

    def state_to_canonical(self, h: Any) -> np.ndarray:
        """The inverse of :meth:`state_to_user`."""
        a = _to_numpy("h0", h)
        if self.state_shape == "column":
            if a.ndim != 2 or a.shape[1] != 1:
                raise OracleError(
                    f"h0: convention {self.name!r} expects a column (n_h, 1), got {a.shape}"
                )
            return a[:, 0]
        if self.state_shape == "layered":
            if a.ndim < 2 or a.shape[0] != 1:
                raise OracleError(
                    f"h0: convention {self.name!r} expects (1, [B,] n_h) (layers first), "
                    f"got {a.shape}"
                )
            return a[0]
        return a


PRESETS: dict[str, ParamConvention] = {
    c.name: c
    for c in (
        ParamConvention(
            "dlbook",
            {"W": "W_hh", "U": "W_xh", "b": "b_h", "V": "W_hy", "c": "b_y"},
            vectors="column",
            description="Goodfellow et al. §10.2: h = tanh(b + W h + U x), o = c + V h",
        ),
        ParamConvention(
            "cs224n",
            {"H": "W_hh.T", "I": "W_xh.T", "b1": "b_h", "U": "W_hy.T", "b2": "b_y"},
            vectors="row",
            bias_shape="row",
            description="CS224n RNN language model (row vectors, as in math.SE 2512465): "
            "h = σ(h H + e I + b1), ŷ = softmax(h U + b2)",
        ),
        ParamConvention(
            "stats_se_565719",
            {"W_hh": "W_hh.T", "W_hx": "W_xh.T"},
            vectors="column",
            state_shape="column",
            absent=("b_h",),
            description="stats.SE 565719 (BPTT: dimensions in the chain rule): "
            "h = tanh(W_hxᵀ e + W_hhᵀ h) — same name W_hh, transposed; no bias, no output "
            "layer (use head 'none')",
        ),
        ParamConvention(
            "deeplearning_ai",
            {"W_aa": "W_hh", "W_ax": "W_xh", "b_a": "b_h", "W_ya": "W_hy", "b_y": "b_y"},
            vectors="column",
            bias_shape="column",
            state_shape="column",
            description="deeplearning.ai Sequence Models (rnn_cell_forward): "
            "a = tanh(W_aa a + W_ax x + b_a), ŷ = softmax(W_ya a + b_y); W_ax is (n_a, n_x)",
        ),
        ParamConvention(
            "vardhan2022",
            {"W_aa": "W_hh.T", "W_ax": "W_xh.T", "b_a": "b_h", "W_ya": "W_hy.T", "b_y": "b_y"},
            vectors="column",
            bias_shape="column",
            state_shape="column",
            description="H. Vardhan, vanilla RNN back-propagation derivation (2022): "
            "deeplearning.ai's names with W_ax (n_x, n_a), a = tanh(W_aaᵀ a + W_axᵀ x + b_a), "
            "ŷ = softmax(W_yaᵀ a + b_y)",
        ),
        ParamConvention(
            "torch",
            {
                "weight_ih_l0": "W_xh",
                "weight_hh_l0": "W_hh",
                "bias_ih_l0": "b_h",
                "bias_hh_l0": "b_h",
                "out.weight": "W_hy",
                "out.bias": "b_y",
            },
            vectors="row",
            sequence_layout="time_major",
            state_shape="layered",
            description="torch.nn.RNN + nn.Linear 'out': h = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + "
            "b_hh); time-major; h_0 is (layers, batch, hidden)",
        ),
        ParamConvention(
            "keras",
            {
                "kernel": "W_xh.T",
                "recurrent_kernel": "W_hh.T",
                "bias": "b_h",
                "dense.kernel": "W_hy.T",
                "dense.bias": "b_y",
            },
            vectors="row",
            sequence_layout="batch_major",
            description="Keras SimpleRNN + Dense: h = tanh(x K + h R + b); batch-major",
        ),
        ParamConvention(
            "flax",
            {
                "i.kernel": "W_xh.T",
                "i.bias": "b_h",
                "h.kernel": "W_hh.T",
                "out.kernel": "W_hy.T",
                "out.bias": "b_y",
            },
            vectors="row",
            sequence_layout="batch_major",
            description="flax.linen.SimpleCell (Dense i with bias, Dense h without) + Dense "
            "'out'; kernels are (in, out)",
        ),
        ParamConvention(
            "cs231n",
            {"Wx": "W_xh.T", "Wh": "W_hh.T", "b": "b_h", "W_vocab": "W_hy.T", "b_vocab": "b_y"},
            vectors="row",
            sequence_layout="batch_major",
            description="CS231n rnn_layers: tanh(x Wx + prev_h Wh + b); x is (N, T, D)",
        ),
        ParamConvention(
            "karpathy",
            {"Wxh": "W_xh", "Whh": "W_hh", "bh": "b_h", "Why": "W_hy", "by": "b_y"},
            vectors="column",
            inputs="indices",
            bias_shape="column",
            state_shape="column",
            description="min-char-rnn: h = tanh(Wxh x + Whh h + bh), y = Why h + by; "
            "one-hot columns given as indices; biases and h are (n, 1)",
        ),
    )
}


ALIASES: dict[str, str] = {
    "seed000": "cs224n",
    "seed001": "stats_se_565719",
    "seed003": "vardhan2022",
}
"""Other names of presets: the worked examples of the docs (``shared/seeds``) by number."""


def preset_name(name: str) -> str:
    """The preset a name stands for (an alias resolved); unknown names are refused."""
    resolved = ALIASES.get(name, name)
    if resolved not in PRESETS:
        aliases = ", ".join(f"{a}={n}" for a, n in ALIASES.items())
        raise OracleError(
            f"convention: unknown name {name!r}; presets are {', '.join(PRESETS)} "
            f"(aliases {aliases}), or pass a mapping such as {{'Wx': 'W_xh.T'}}"
        )
    return resolved


def get_convention(convention: str | Mapping[str, str] | ParamConvention) -> ParamConvention:
    """A preset by name (or alias, see :data:`ALIASES`), a user mapping such as
    ``{"Wx": "W_xh.T", ...}``, or a convention."""
    if isinstance(convention, ParamConvention):
        return convention
    if isinstance(convention, str):
        return PRESETS[preset_name(convention)]
    if isinstance(convention, Mapping):
        return ParamConvention("custom", dict(convention))
    raise OracleError(
        f"convention: expected a preset name, a mapping or a ParamConvention, got "
        f"{type(convention).__name__}"
    )
