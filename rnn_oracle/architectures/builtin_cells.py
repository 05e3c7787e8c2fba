"""The built-in cells, each a :class:`~rnn_oracle.architectures.cell_interface.Cell`.

Column-vector mathematics, batch as rows (``s @ W.T`` is ``W s`` for every row); the
gates of a stacked parameter are equal blocks of its rows, in the order given.

========================== ==================================================================
name                       step
========================== ==================================================================
``tanh`` ``sigmoid``       ``h' = φ(W_xh x + b_h + W_hh h)`` — hand BPTT
``relu`` ``identity``
``gru``                    torch's ``nn.GRU`` (r, z, n; reset after ``W_hn h + b_hn``) — hand BPTT
``lstm``                   torch's ``nn.LSTM`` (i, f, g, o) — hand BPTT
``keras_gru``              Keras ``GRU(reset_after=True)`` (z, r, h), Keras's default
``keras_gru_reset_before`` Keras ``GRU(reset_after=False)``: ``ĥ = tanh(W_h x + b_h + U_h (r ∘ h))``
``flax_gru``               ``flax.linen.GRUCell``: torch's GRU with the r and z biases on the
                           input side only (``b_i``) and ``b_hn`` on the recurrent side
``peephole_lstm``          LSTM with diagonal peepholes (Gers & Schmidhuber 2000): i and f
                           see ``c``, o sees ``c'``
``min_gru``                minGRU (Feng et al. 2024, §3.1): ``z = σ(W_z x + b_z)``,
                           ``h̃ = W_h x + b_h``, ``h' = (1 − z) ∘ h + z ∘ h̃``
``diagonal_linear``        real diagonal linear recurrence, LRU-style: ``h' = λ ∘ h + B x``
                           with ``λ = exp(−exp(ν))`` in (0, 1), the real part of LRU's
                           stable parametrization
========================== ==================================================================

Only the first six have a hand BPTT (:mod:`rnn_oracle.architectures.cells`); the others'
references differentiate their step (complex step on NumPy, autodiff on torch and JAX).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnn_oracle.architectures.cell_interface import Cell
from rnn_oracle.architectures.cells import step as hand_step
from rnn_oracle.model import activation
from rnn_oracle.spec import CELLS as VANILLA_CELLS

Array = Any


def _sigmoid(a: Array, xp: Any) -> Array:
    return activation("sigmoid", a, xp)


def _split(a: Array, parts: int) -> list[Array]:
    n = a.shape[-1] // parts
    return [a[..., k * n : (k + 1) * n] for k in range(parts)]


# -- the cells with a hand BPTT, as instances of the interface --------------------------------
def _hand_cell(name: str) -> Cell:
    """``name``'s step in the interface's form: the input projection, then the hand step
    of :mod:`rnn_oracle.architectures.cells` (what the forward pass runs)."""
    gated = name in ("gru", "lstm")
    gates = {"gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}.get(name)
    n_gates = len(gates) if gates else 1
    states = ("h", "c") if name == "lstm" else ("h",)

    def step(p: Mapping[str, Array], state: Any, x: Array, xp: Any) -> Any:
        bias = p["b_xh"] if gated else p["b_h"]
        prev = tuple(state) if len(states) > 1 else (state,)
        new, _ = hand_step(name, p, x @ p["W_xh"].T + bias, prev, xp)
        return new if len(states) > 1 else new[0]

    def shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
        rows = n_gates * n_h
        out: dict[str, tuple[int, ...]] = {"W_xh": (rows, n_in), "W_hh": (rows, n_h)}
        if gated:
            out.update(b_xh=(rows,), b_hh=(rows,))
        else:
            out["b_h"] = (rows,)
        return out

    gate_rows = {p: gates for p in ("W_xh", "W_hh", "b_xh", "b_hh")} if gates else {}
    return Cell(name, step, shapes, states, gate_rows)


# -- GRU variants ------------------------------------------------------------------------------
def _gru_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"W": (3 * n_h, n_in), "U": (3 * n_h, n_h), "b_x": (3 * n_h,), "b_h": (3 * n_h,)}


def _keras_gru_step(p: Mapping[str, Array], h: Array, x: Array, xp: Any) -> Array:
    """Keras ``GRUCell(reset_after=True)``: kernel ``Wᵀ``, recurrent_kernel ``Uᵀ``, bias
    ``[b_x, b_h]`` (shape ``(2, 3 n_h)``), gates (z, r, h)."""
    x_z, x_r, x_h = _split(x @ p["W"].T + p["b_x"], 3)
    h_z, h_r, h_h = _split(h @ p["U"].T + p["b_h"], 3)
    z = _sigmoid(x_z + h_z, xp)
    r = _sigmoid(x_r + h_r, xp)
    hh = xp.tanh(x_h + r * h_h)
    return z * h + (1.0 - z) * hh


def _keras_gru_reset_before_step(p: Mapping[str, Array], h: Array, x: Array, xp: Any) -> Array:
    """Keras ``GRUCell(reset_after=False)``: one bias ``b`` (shape ``(3 n_h,)``); the
    reset gate scales ``h`` before the candidate's recurrent matmul."""
    x_z, x_r, x_h = _split(x @ p["W"].T + p["b"], 3)
    n = p["U"].shape[-1]
    u_z, u_r, u_h = (p["U"][k * n : (k + 1) * n] for k in range(3))  # U's row blocks
    z = _sigmoid(x_z + h @ u_z.T, xp)
    r = _sigmoid(x_r + h @ u_r.T, xp)
    hh = xp.tanh(x_h + (r * h) @ u_h.T)
    return z * h + (1.0 - z) * hh


def _keras_gru_reset_before_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"W": (3 * n_h, n_in), "U": (3 * n_h, n_h), "b": (3 * n_h,)}


def _flax_gru_step(p: Mapping[str, Array], h: Array, x: Array, xp: Any) -> Array:
    """``flax.linen.GRUCell``: ``ir, iz, in`` (Dense with bias) are ``W_i``'s row blocks
    and ``b_i``; ``hr, hz`` (no bias) and ``hn`` (bias ``b_hn``) are ``W_h``'s."""
    i_r, i_z, i_n = _split(x @ p["W_i"].T + p["b_i"], 3)
    h_r, h_z, h_n = _split(h @ p["W_h"].T, 3)
    r = _sigmoid(i_r + h_r, xp)
    z = _sigmoid(i_z + h_z, xp)
    n = xp.tanh(i_n + r * (h_n + p["b_hn"]))
    return (1.0 - z) * n + z * h


def _flax_gru_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"W_i": (3 * n_h, n_in), "b_i": (3 * n_h,), "W_h": (3 * n_h, n_h), "b_hn": (n_h,)}


# -- peephole LSTM -----------------------------------------------------------------------------
def _peephole_lstm_step(p: Mapping[str, Array], state: Any, x: Array, xp: Any) -> Any:
    """``[a_i, a_f, a_g, a_o] = W x + U h + b``; ``i = σ(a_i + p_i ∘ c)``,
    ``f = σ(a_f + p_f ∘ c)``, ``g = tanh(a_g)``, ``c' = f ∘ c + i ∘ g``,
    ``o = σ(a_o + p_o ∘ c')``, ``h' = o ∘ tanh(c')``."""
    h, c = state
    a_i, a_f, a_g, a_o = _split(x @ p["W"].T + h @ p["U"].T + p["b"], 4)
    p_i, p_f, p_o = _split(p["P"], 3)
    i = _sigmoid(a_i + p_i * c, xp)
    f = _sigmoid(a_f + p_f * c, xp)
    g = xp.tanh(a_g)
    c_new = f * c + i * g
    o = _sigmoid(a_o + p_o * c_new, xp)
    return o * xp.tanh(c_new), c_new


def _peephole_lstm_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"W": (4 * n_h, n_in), "U": (4 * n_h, n_h), "b": (4 * n_h,), "P": (3 * n_h,)}


# -- minGRU and a diagonal linear recurrence ---------------------------------------------------
def _min_gru_step(p: Mapping[str, Array], h: Array, x: Array, xp: Any) -> Array:
    a_z, h_tilde = _split(x @ p["W"].T + p["b"], 2)
    z = _sigmoid(a_z, xp)
    return (1.0 - z) * h + z * h_tilde


def _min_gru_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"W": (2 * n_h, n_in), "b": (2 * n_h,)}


def _diagonal_linear_step(p: Mapping[str, Array], h: Array, x: Array, xp: Any) -> Array:
    return xp.exp(-xp.exp(p["nu"])) * h + x @ p["B"].T


def _diagonal_linear_shapes(n_in: int, n_h: int) -> dict[str, tuple[int, ...]]:
    return {"nu": (n_h,), "B": (n_h, n_in)}


_GRU_GATES = ("z", "r", "h")
#: Every built-in cell by name (``NetworkSpec(cell=name)`` takes the name or the cell).
BUILTIN_CELLS: dict[str, Cell] = {
    **{name: _hand_cell(name) for name in (*VANILLA_CELLS, "gru", "lstm")},
    "keras_gru": Cell("keras_gru", _keras_gru_step, _gru_shapes,
                      gates={n: _GRU_GATES for n in ("W", "U", "b_x", "b_h")}),
    "keras_gru_reset_before": Cell(
        "keras_gru_reset_before", _keras_gru_reset_before_step,
        _keras_gru_reset_before_shapes, gates={n: _GRU_GATES for n in ("W", "U", "b")}),
    "flax_gru": Cell("flax_gru", _flax_gru_step, _flax_gru_shapes,
                     gates={n: ("r", "z", "n") for n in ("W_i", "b_i", "W_h")}),
    "peephole_lstm": Cell(
        "peephole_lstm", _peephole_lstm_step, _peephole_lstm_shapes, ("h", "c"),
        gates={"W": ("i", "f", "g", "o"), "U": ("i", "f", "g", "o"),
               "b": ("i", "f", "g", "o"), "P": ("i", "f", "o")}),
    "min_gru": Cell("min_gru", _min_gru_step, _min_gru_shapes,
                    gates={"W": ("z", "h"), "b": ("z", "h")}),
    "diagonal_linear": Cell("diagonal_linear", _diagonal_linear_step, _diagonal_linear_shapes),
}
#: The cells whose gradients have a hand BPTT (:mod:`rnn_oracle.architectures.cells`).
HAND_BPTT_CELLS: tuple[str, ...] = (*VANILLA_CELLS, "gru", "lstm")
