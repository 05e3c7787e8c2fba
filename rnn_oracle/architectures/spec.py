"""What network is being differentiated beyond one vanilla layer: :class:`NetworkSpec`.

An architecture arranges *blocks* — one recurrent cell run over a sequence in one
direction — and a head. Every block is named by a prefix of its parameter names:

=================== ==========================================================
architecture        blocks (prefix)
=================== ==========================================================
many_to_many        ``layer0.forward.``
many_to_one         ``layer0.forward.`` (the head sees the last step only)
one_to_many         ``layer0.forward.`` (one input; later inputs are zero, ŷ or h)
encoder_decoder     ``encoder.``, ``decoder.`` (the decoder starts from the
                    encoder's final state)
stacked             ``layer0.forward.`` … ``layer{L-1}.forward.``
bidirectional       ``layer0.forward.``, ``layer0.backward.``
deep_bidirectional  ``layer{l}.forward.``, ``layer{l}.backward.`` for l < L
=================== ==========================================================

A bidirectional layer's output at step ``t`` is ``[h_fwd(t); h_bwd(t)]`` (forward half
first, as torch stores it); the backward block reads the sequence from ``T`` down to 1.
Layer ``l > 0`` reads the output of layer ``l − 1``. One-to-one is ``many_to_many`` with
``T = 1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rnn_oracle.architectures.builtin_cells import BUILTIN_CELLS, HAND_BPTT_CELLS
from rnn_oracle.architectures.cell_interface import Cell
from rnn_oracle.errors import OracleError
from rnn_oracle.spec import HEADS, LOSS_SIGNS, REDUCTIONS, check_choice

Architecture = Literal[
    "many_to_many", "many_to_one", "one_to_many", "encoder_decoder", "stacked",
    "bidirectional", "deep_bidirectional",
]
ARCHITECTURES: tuple[str, ...] = (
    "many_to_many", "many_to_one", "one_to_many", "encoder_decoder", "stacked",
    "bidirectional", "deep_bidirectional",
)
#: The cells with a hand BPTT: the vanilla ones (``phi(W_hh h + W_xh x + b_h)``) and the
#: gated ones. ``NetworkSpec(cell=...)`` also takes every name of
#: :data:`~rnn_oracle.architectures.builtin_cells.BUILTIN_CELLS` and any
#: :class:`~rnn_oracle.Cell`.
NETWORK_CELLS: tuple[str, ...] = HAND_BPTT_CELLS
GATED_CELLS: tuple[str, ...] = ("gru", "lstm")
#: How many ``n_h``-blocks the stacked pre-activations hold, and their order (torch's).
GATES: dict[str, tuple[str, ...]] = {"gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}
FEEDBACKS: tuple[str, ...] = ("none", "output", "hidden")
MULTI_LAYER: tuple[str, ...] = ("stacked", "deep_bidirectional")
#: How a block's initial state (``h0``, and ``c0`` for LSTM) enters the code under test:
#: ``given`` — a random state is passed and its gradient is required; ``zero`` — the state
#: is zero (passed as zeros) and no gradient is required for it; ``fixed`` — a random state
#: is passed that the code does not differentiate (no gradient required); ``learned`` — a
#: random state that is a parameter: passed with the parameters, its gradient required.
#: A gradient the code returns for a ``zero`` or ``fixed`` state is judged all the same.
INITIAL_STATE_KINDS: tuple[str, ...] = ("given", "zero", "fixed", "learned")
BIDIRECTIONAL: tuple[str, ...] = ("bidirectional", "deep_bidirectional")


@dataclass(frozen=True)
class Block:
    """One recurrent cell run over a sequence in one direction."""

    prefix: str  #: parameter-name prefix, e.g. ``"layer1.backward."``
    layer: int
    direction: str  #: ``forward`` or ``backward``
    n_in: int  #: size of the vectors it reads


@dataclass(frozen=True)
class NetworkSpec:
    """An RNN architecture built from one cell (column-vector mathematics, batch as rows).

    Attributes:
        architecture: one of :data:`ARCHITECTURES` (see the module docstring).
        cell: ``tanh``, ``sigmoid``, ``relu``, ``identity`` (vanilla:
            ``h' = phi(W_hh h + W_xh x + b_h)``), ``gru`` or ``lstm`` (torch's equations
            and gate order; see ``docs/architectures.md``) — the cells with a hand BPTT;
            the name of another built-in cell (``min_gru``, ``peephole_lstm``, …:
            :mod:`rnn_oracle.architectures.builtin_cells`); or your own
            :class:`~rnn_oracle.Cell` (``docs/cells.md``). A built-in given as its
            :class:`~rnn_oracle.Cell` is stored by name.
        n_x, n_h, n_y: input, hidden and output sizes.
        n_layers: layers for ``stacked`` and ``deep_bidirectional`` (at least 2); 1 for
            every other architecture.
        head: ``softmax_ce``, ``linear_mse`` or ``none`` (an upstream gradient is given for
            every output step), as in :class:`~rnn_oracle.RNNSpec`.
        loss_sign, time_reduction, batch_reduction: as in :class:`~rnn_oracle.RNNSpec`;
            a ``mean`` over time divides by the number of steps the head sees.
        feedback: ``one_to_many`` only: what step ``t + 1`` reads after the first input —
            ``none`` (zeros), ``output`` (``ŷ_t``: probabilities for softmax_ce, ``o_t`` for
            linear_mse; needs ``n_x = n_y``) or ``hidden`` (``h_t``; needs ``n_x = n_h``).
        initial_state: how the initial states enter the code: one of
            :data:`INITIAL_STATE_KINDS` for every state, or per state, such as CS231n's
            LSTM ``{"h": "given", "c": "zero"}`` (the decoder of ``encoder_decoder``
            starts from the encoder's final state).
    """

    architecture: Architecture = "many_to_many"
    #: a built-in's name (str), or a user's :class:`Cell` (typed Any so that code that
    #: reads a hand-BPTT cell's name, after checking :attr:`hand_bptt`, type-checks)
    cell: Any = "tanh"
    n_x: int = 3
    n_h: int = 4
    n_y: int = 3
    n_layers: int | None = None
    head: str = "softmax_ce"
    loss_sign: str = "standard"
    time_reduction: str = "sum"
    batch_reduction: str = "sum"
    feedback: str = "none"
    initial_state: str | Mapping[str, str] | tuple[tuple[str, str], ...] = "given"

    def __post_init__(self) -> None:
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        object.__setattr__(self, "cell", _cell_choice(self.cell))
        _check_choice("head", self.head, HEADS)
        _check_choice("loss_sign", self.loss_sign, LOSS_SIGNS)
        _check_choice("time_reduction", self.time_reduction, REDUCTIONS)
        _check_choice("batch_reduction", self.batch_reduction, REDUCTIONS)
        _check_choice("feedback", self.feedback, FEEDBACKS)
        object.__setattr__(self, "initial_state", self._initial_state_kinds())
        for field in ("n_x", "n_h", "n_y"):
            _check_positive(field, getattr(self, field))
        if self.n_layers is None:
            object.__setattr__(
                self, "n_layers", 2 if self.architecture in MULTI_LAYER else 1
            )
        _check_positive("n_layers", self.n_layers)
        if self.architecture in MULTI_LAYER and self.layers < 2:
            raise OracleError(
                f"NetworkSpec.n_layers: {self.architecture} needs at least 2 layers, "
                f"got {self.n_layers}"
            )
        if self.architecture not in MULTI_LAYER and self.layers != 1:
            raise OracleError(
                f"NetworkSpec.n_layers: {self.architecture} has exactly 1 layer, got "
                f"{self.n_layers} (use 'stacked' or 'deep_bidirectional' for more)"
            )
        if self.head == "softmax_ce" and self.n_y < 2:
            raise OracleError(
                f"NetworkSpec.n_y: softmax cross-entropy needs at least 2 classes, got {self.n_y}"
            )
        if self.feedback != "none":
            if self.architecture != "one_to_many":
                raise OracleError(
                    f"NetworkSpec.feedback: only one_to_many feeds back, got feedback="
                    f"{self.feedback!r} with architecture={self.architecture!r}"
                )
            if self.feedback == "output" and self.head == "none":
                raise OracleError(
                    "NetworkSpec.feedback: 'output' feeds ŷ back, but head 'none' has no ŷ"
                )
            needed = self.n_y if self.feedback == "output" else self.n_h
            if self.n_x != needed:
                other = "n_y" if self.feedback == "output" else "n_h"
                raise OracleError(
                    f"NetworkSpec.n_x: feedback={self.feedback!r} feeds a vector of size "
                    f"{other} = {needed} back as input, so n_x must be {needed}, got {self.n_x}"
                )

    # -- derived facts ------------------------------------------------------------------
    @property
    def layers(self) -> int:
        """``n_layers`` as an int (it is filled in by the constructor)."""
        assert self.n_layers is not None
        return self.n_layers

    @property
    def bidirectional(self) -> bool:
        return self.architecture in BIDIRECTIONAL

    @property
    def cell_def(self) -> Cell:
        """The cell as a :class:`~rnn_oracle.Cell` (built-ins resolved by name)."""
        return self.cell if isinstance(self.cell, Cell) else BUILTIN_CELLS[self.cell]

    @property
    def hand_bptt(self) -> bool:
        """Whether the cell has a hand BPTT (:data:`NETWORK_CELLS`)."""
        return isinstance(self.cell, str) and self.cell in NETWORK_CELLS

    @property
    def cell_name(self) -> str:
        return str(self.cell)

    @property
    def gates(self) -> int:
        """How many ``n_h`` blocks a hand-BPTT cell's pre-activation has: 1, 3 (GRU) or
        4 (LSTM)."""
        return len(GATES.get(self.cell, ("a",))) if self.hand_bptt else 1

    @property
    def n_top(self) -> int:
        """Size of what the head reads: ``2 n_h`` for bidirectional networks."""
        return 2 * self.n_h if self.bidirectional else self.n_h

    @property
    def sign(self) -> float:
        return 1.0 if self.loss_sign == "standard" else -1.0

    def _initial_state_kinds(self) -> str | tuple[tuple[str, str], ...]:
        """``initial_state`` validated: one kind for every state, or ``(state, kind)``
        pairs in :attr:`state_names` order (a frozen spec must stay hashable)."""
        given: Any = self.initial_state
        if isinstance(given, str):
            _check_choice("initial_state", given, INITIAL_STATE_KINDS)
            return given
        pairs = dict(given.items()) if isinstance(given, Mapping) else (
            dict(given) if isinstance(given, tuple) else None)
        if pairs is None:
            raise OracleError(
                f"NetworkSpec.initial_state: expected one of {list(INITIAL_STATE_KINDS)} or a "
                f"mapping state -> kind, got {type(given).__name__}"
            )
        states = self.state_names
        unknown = [k for k in pairs if k not in states]
        missing = [k for k in states if k not in pairs]
        if unknown or missing:
            raise OracleError(
                f"NetworkSpec.initial_state: a {self.cell} block carries the states "
                f"{list(states)}; give a kind for each (missing {missing}, unknown {unknown})"
            )
        for state, kind in pairs.items():
            _check_choice(f"initial_state[{state!r}]", kind, INITIAL_STATE_KINDS)
        kinds = {pairs[s] for s in states}
        if len(kinds) == 1:
            return kinds.pop()
        return tuple((s, pairs[s]) for s in states)

    def state_kind(self, state: str) -> str:
        """How the initial ``state`` (``"h"`` or ``"c"``) enters the code: a kind of
        :data:`INITIAL_STATE_KINDS`."""
        if isinstance(self.initial_state, str):
            return self.initial_state
        return dict(self.initial_state)[state]

    def initial_kind(self, name: str) -> str:
        """The kind of the initial-state array ``name`` (``layer1.forward.c0``)."""
        return self.state_kind(name.rpartition(".")[2][:-1])

    def required_initial_states(self) -> tuple[str, ...]:
        """The initial states whose gradient the code must return (``given``, ``learned``)."""
        return tuple(n for n in self.initial_state_names()
                     if self.initial_kind(n) in ("given", "learned"))

    @property
    def state_names(self) -> tuple[str, ...]:
        """The state a block carries: ``h``, and ``c`` for LSTM (a cell's own states)."""
        if self.hand_bptt:
            return ("h", "c") if self.cell == "lstm" else ("h",)
        return self.cell_def.states

    def blocks(self) -> tuple[Block, ...]:
        """The recurrent blocks in the order the forward pass runs them."""
        if self.architecture == "encoder_decoder":
            return (Block("encoder.", 0, "forward", self.n_x),
                    Block("decoder.", 0, "forward", self.n_x))
        directions = ("forward", "backward") if self.bidirectional else ("forward",)
        out: list[Block] = []
        for layer in range(self.layers):
            n_in = self.n_x if layer == 0 else self.n_h * len(directions)
            out.extend(Block(f"layer{layer}.{d}.", layer, d, n_in) for d in directions)
        return tuple(out)

    def block_param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]]:
        """Parameters of one block: vanilla ``W_xh, W_hh, b_h``; gated ``W_xh, W_hh, b_xh,
        b_hh`` with the gates stacked along the first axis; any other cell's own."""
        if not self.hand_bptt:
            return self.cell_def.shapes(n_in, self.n_h)
        rows = self.gates * self.n_h
        shapes: dict[str, tuple[int, ...]] = {"W_xh": (rows, n_in), "W_hh": (rows, self.n_h)}
        if self.cell in GATED_CELLS:
            shapes.update(b_xh=(rows,), b_hh=(rows,))
        else:
            shapes["b_h"] = (rows,)
        return shapes

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter by full name (block prefix + name; the head's ``W_hy, b_y``)."""
        shapes = {
            block.prefix + name: shape
            for block in self.blocks()
            for name, shape in self.block_param_shapes(block.n_in).items()
        }
        if self.head != "none":
            shapes.update(W_hy=(self.n_y, self.n_top), b_y=(self.n_y,))
        return shapes

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.param_shapes())

    def initial_state_names(self) -> tuple[str, ...]:
        """``{prefix}h0`` (and ``{prefix}c0``) for every block that starts from a given state
        (all but the decoder)."""
        return tuple(
            f"{block.prefix}{s}0"
            for block in self.blocks()
            if block.prefix != "decoder."
            for s in self.state_names
        )

    @property
    def data_names(self) -> tuple[str, ...]:
        """The differentiable input sequences: ``inputs`` and, for encoder_decoder,
        ``decoder_inputs``."""
        if self.architecture == "encoder_decoder":
            return ("inputs", "decoder_inputs")
        return ("inputs",)

    def replace(self, **changes: Any) -> NetworkSpec:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise OracleError(
                f"NetworkSpec.replace: unknown field(s) {sorted(unknown)}; fields are "
                f"{[f.name for f in dataclasses.fields(self)]}"
            )
        if "architecture" in changes and "n_layers" not in changes:
            changes["n_layers"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["cell"] = self.cell_name
        if not isinstance(self.initial_state, str):
            out["initial_state"] = dict(self.initial_state)
        return out

    @property
    def label(self) -> str:
        """A short name for tables: ``stacked/gru``, ``deep_bidirectional×3/lstm``."""
        layers = f"×{self.layers}" if self.architecture in MULTI_LAYER else ""
        feedback = f"+{self.feedback}" if self.feedback != "none" else ""
        return f"{self.architecture}{layers}{feedback}/{self.cell}"


def _cell_choice(cell: object) -> str | Cell:
    """A built-in cell by name; any other :class:`Cell` as it is."""
    if isinstance(cell, Cell):
        builtin = BUILTIN_CELLS.get(cell.name)
        return cell.name if builtin is cell else cell
    if isinstance(cell, str) and cell in BUILTIN_CELLS:
        return cell
    raise OracleError(
        f"NetworkSpec.cell: expected one of {', '.join(map(repr, BUILTIN_CELLS))} or a "
        f"rnn_oracle.Cell, got {cell!r}"
    )


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    check_choice(field, value, choices, owner="NetworkSpec")


def _check_positive(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise OracleError(f"NetworkSpec.{field}: expected a positive integer, got {value!r}")
