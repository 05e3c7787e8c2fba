"""What network is being differentiated: :class:`RNNSpec`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from rnn_oracle.errors import OracleError

Cell = Literal["tanh", "sigmoid", "relu", "identity"]
Head = Literal["softmax_ce", "linear_mse", "none"]
LossSign = Literal["standard", "negated"]
Reduction = Literal["sum", "mean"]
InputKind = Literal["dense", "one_hot", "indices"]
InitialState = Literal["zero", "given"]

CELLS: tuple[str, ...] = ("tanh", "sigmoid", "relu", "identity")
HEADS: tuple[str, ...] = ("softmax_ce", "linear_mse", "none")
LOSS_SIGNS: tuple[str, ...] = ("standard", "negated")
REDUCTIONS: tuple[str, ...] = ("sum", "mean")
INPUT_KINDS: tuple[str, ...] = ("dense", "one_hot", "indices")
INITIAL_STATES: tuple[str, ...] = ("zero", "given")

#: Canonical parameter names, in a fixed order (DESIGN: the canonical network).
PARAM_NAMES: tuple[str, ...] = ("W_hh", "W_xh", "b_h", "W_hy", "b_y")


@dataclass(frozen=True)
class RNNSpec:
    """A vanilla RNN in the canonical column-vector form (a batch is stored as rows)::

        a_t = W_hh h_{t-1} + W_xh x_t + b_h        h_t = cell(a_t)
        o_t = W_hy h_t + b_y                        (head)
        J   = reduce_t reduce_b  sign * loss_t

    Attributes:
        cell: the hidden nonlinearity ``tanh``, ``sigmoid``, ``relu`` or ``identity``.
        n_x, n_h, n_y: input, hidden and output sizes. With ``inputs`` of ``one_hot`` or
            ``indices``, ``n_x`` is the vocabulary size.
        head: ``softmax_ce`` (``loss_t = -Σ_i y_i log softmax(o_t)_i``, targets are class
            indices), ``linear_mse`` (``loss_t = ½‖o_t − y_t‖²``, dense targets), or
            ``none``: no output layer; the caller supplies an upstream gradient ``g_t`` for
            every step and ``loss_t = ⟨g_t, h_t⟩``, so ``∂J/∂h_t = g_t`` (layer mode).
        loss_sign: ``standard`` or ``negated``; ``negated`` flips the per-step loss, which
            for ``softmax_ce`` is seed 000's literal ``J = +Σ y log ŷ``.
        time_reduction, batch_reduction: ``sum`` or ``mean`` over time and over batch.
        inputs: ``dense`` vectors, ``one_hot`` vectors, or class ``indices``.
        initial_state: ``zero`` (``h0 = 0``) or ``given`` (a random ``h0`` is drawn).
    """

    cell: Cell = "tanh"
    n_x: int = 4
    n_h: int = 8
    n_y: int = 4
    head: Head = "softmax_ce"
    loss_sign: LossSign = "standard"
    time_reduction: Reduction = "sum"
    batch_reduction: Reduction = "sum"
    inputs: InputKind = "dense"
    initial_state: InitialState = "given"

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        check_choice("head", self.head, HEADS)
        check_choice("loss_sign", self.loss_sign, LOSS_SIGNS)
        check_choice("time_reduction", self.time_reduction, REDUCTIONS)
        check_choice("batch_reduction", self.batch_reduction, REDUCTIONS)
        check_choice("inputs", self.inputs, INPUT_KINDS)
        check_choice("initial_state", self.initial_state, INITIAL_STATES)
        for field in ("n_x", "n_h", "n_y"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise OracleError(
                    f"RNNSpec.{field}: expected a positive integer size, got {value!r}"
                )
        if self.head == "softmax_ce" and self.n_y < 2:
            raise OracleError(
                f"RNNSpec.n_y: softmax cross-entropy needs at least 2 classes, got {self.n_y}"
            )

    @property
    def has_output_layer(self) -> bool:
        """Whether ``W_hy`` and ``b_y`` exist (every head but ``none``)."""
        return self.head != "none"

    @property
    def param_names(self) -> tuple[str, ...]:
        """Canonical parameter names present in this network."""
        return PARAM_NAMES if self.has_output_layer else PARAM_NAMES[:3]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical shape of every parameter (gradients share it)."""
        shapes = {
            "W_hh": (self.n_h, self.n_h),
            "W_xh": (self.n_h, self.n_x),
            "b_h": (self.n_h,),
            "W_hy": (self.n_y, self.n_h),
            "b_y": (self.n_y,),
        }
        return {name: shapes[name] for name in self.param_names}

    @property
    def sign(self) -> float:
        """``+1.0`` for the standard loss, ``-1.0`` for the negated one."""
        return 1.0 if self.loss_sign == "standard" else -1.0

    def replace(self, **changes: Any) -> RNNSpec:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise OracleError(
                f"RNNSpec.replace: unknown field(s) {sorted(unknown)}; fields are "
                f"{[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_choice(
    field: str, value: object, choices: tuple[str, ...], owner: str = "RNNSpec"
) -> None:
    """Raise an :class:`OracleError` naming ``owner.field``, the choices and what came."""
    if value not in choices:
        raise OracleError(
            f"{owner}.{field}: expected one of {', '.join(map(repr, choices))}, got {value!r}"
        )
