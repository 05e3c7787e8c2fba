"""Gated cells with a slip: what a GRU or LSTM backward with one named mistake returns.

The diagnosis' hypotheses for gated networks (:class:`GatedVariants`): the hand BPTT of
:mod:`rnn_oracle.architectures.bptt` — its forward pass run once, its sweep over layers,
directions and steps reused — with the step's backward replaced by :func:`slipped_step`,
which derives torch's equations (:mod:`rnn_oracle.architectures.cells`) anew, gate by
gate, and departs from them where a :class:`GateSlip` says. Slips that live in the
weight gradients only (a bias from one step, ``W_hh`` paired with the wrong state) are
applied to the correct sweep's per-step pre-activation gradients.

Everything is float64 NumPy and computed from the case alone, never from the user's
answer. Each sweep keeps only its per-step pre-activation gradients and the data
gradients (inputs, initial states); a parameter's gradient is one matrix product away
(:meth:`GatedVariants.value`), and its per-step contributions, wanted for the diagnosed
slip only, are made on demand (:meth:`GatedVariants.steps`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np

from rnn_oracle.architectures import bptt
from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.cells import State, StepCache, split, step_backward
from rnn_oracle.architectures.model import forward
from rnn_oracle.architectures.spec import GATES
from rnn_oracle.model import activation
from rnn_oracle.oracle.diagnosis import Diagnosis
from rnn_oracle.oracle.report import GateMap
from rnn_oracle.oracle.variants import DERIVATIVES

Array = Any

#: The activation of every gate (torch's equations); LSTM's cell output ``tanh(c)`` too.
ACTIVATIONS: dict[str, str] = {
    "i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid",
    "r": "sigmoid", "z": "sigmoid", "n": "tanh",
}
#: The :data:`GATE_DERIVATIVES` labels that are right for an
#: activation (``σ′ = h (1 − h) = σ(a) (1 − σ(a))``, ``tanh′ = 1 − h²``); every other one
#: but ReLU's step is a slip to test.
RIGHT_DERIVATIVES: dict[str, tuple[str, ...]] = {
    "sigmoid": ("h (1 − h)", "σ(a) (1 − σ(a))"),
    "tanh": ("1 − h²",),
}
_NOT_A_GATE_DERIVATIVE = ("1[h > 0]",)


def _sigmoid_of_value(a: Array, h: Array) -> Array:
    s = activation("sigmoid", h, np)
    return s * (1.0 - s)


#: The derivatives a gate's backward is tested with: the single layer's
#: (:data:`~rnn_oracle.oracle.variants.DERIVATIVES`), and σ′ taken at the gate's value (σ
#: applied twice), the sigmoid twin of ``1 − tanh(h)²``.
GATE_DERIVATIVES: dict[str, Callable[[Array, Array], Array]] = {
    **DERIVATIVES, "σ(h) (1 − σ(h))": _sigmoid_of_value,
}

#: Slips applied to the correct sweep's pre-activation gradients (no sweep of their own).
WEIGHT_KINDS: tuple[str, ...] = ("bias_one_step", "w_hh_current")


@dataclass(frozen=True)
class GateSlip:
    """One slip of a gated cell's backward: a :data:`~rnn_oracle.oracle.diagnosis.CAUSES`
    identifier, what the slip is in words, and what the step (or the weight gradients)
    does instead of torch's equations. ``kind`` is read by :func:`slipped_step` (and, for
    :data:`WEIGHT_KINDS`, by :meth:`GatedVariants.value`); ``kind="none"`` is no slip."""

    cause: str
    detail: str
    kind: str
    gate: str | None = None  #: the gate it concerns (``"g, o"`` for two swapped blocks)
    option: str | None = None  #: a derivative label, or which step a bias keeps

    @property
    def params(self) -> dict[str, Any]:
        return {} if self.gate is None else {"gate": self.gate}


NO_SLIP = GateSlip("", "torch's equations, derived gate by gate", "none")


def _derivative(label: str, s: Array, a: Array) -> Array:
    """A :data:`GATE_DERIVATIVES` entry for a gate of value ``s`` and pre-activation ``a``."""
    return GATE_DERIVATIVES[label](a, s)


def _gate_derivative(slip: GateSlip, gate: str, s: Array, a: Array) -> Array:
    """The derivative of ``gate``'s activation at value ``s``: the right one, unless the
    slip writes another for this gate."""
    if slip.kind == "derivative" and slip.gate == gate:
        assert slip.option is not None
        return _derivative(slip.option, s, a)
    return s * (1.0 - s) if ACTIVATIONS[gate] == "sigmoid" else 1.0 - s * s


def _swapped(slip: GateSlip, kind: str, order: tuple[str, ...], items: tuple[Any, ...]
             ) -> tuple[Any, ...]:
    """``items`` (one per gate, in ``order``), with the two gates a slip of ``kind`` names
    in each other's place."""
    if slip.kind != kind:
        return items
    assert slip.gate is not None
    k, j = (order.index(g) for g in slip.gate.split(", "))
    out = list(items)
    out[k], out[j] = items[j], items[k]
    return tuple(out)


def _stacked(slip: GateSlip, order: tuple[str, ...], blocks: dict[str, Array], xp: Any) -> Array:
    """The gate blocks stacked in torch's order, or with two of them in each other's place
    (the step's backward stacks them in another order than its forward reads them)."""
    return xp.concat([blocks[g] for g in _swapped(slip, "swap", order, order)], axis=-1)


def slipped_step(
    slip: GateSlip, cell: str, p: Mapping[str, Array], cache: StepCache, d_new: State, xp: Any
) -> tuple[Array, Array, State]:
    """One gated step's backward, :data:`~rnn_oracle.architectures.bptt.StepBackward`'s
    signature after ``slip`` (bind it with :func:`functools.partial`)."""
    if cell == "lstm":
        return _lstm_step(slip, p, cache, d_new, xp)
    if cell == "gru":
        return _gru_step(slip, p, cache, d_new, xp)
    raise ValueError(f"slipped_step: {cell!r} is not a gated cell")


def _lstm_step(
    slip: GateSlip, p: Mapping[str, Array], cache: StepCache, d_new: State, xp: Any
) -> tuple[Array, Array, State]:
    """``c' = f ∘ c + i ∘ g``, ``h' = o ∘ tanh(c')``, read backward one product at a time."""
    kind = slip.kind
    *gates, tc = cache.values
    c = cache.prev[1]
    dh, dc_next = d_new
    pre = dict(zip(GATES["lstm"], split(cache.u + cache.hw, 4, xp), strict=True))
    c_new = gates[1] * c + gates[0] * gates[2]
    # The gate values the backward reads (a slip may read two in each other's place).
    i, f, g, o = _swapped(slip, "values_swapped", GATES["lstm"], tuple(gates))
    values = {"i": i, "f": f, "g": g, "o": o}
    if kind == "c_dropped":  # ∂J/∂c_t arriving from step t + 1 is lost
        dc_next = xp.zeros_like(dc_next)
    # What reaches c_t through h_t = o ∘ tanh(c_t).
    if kind == "no_h_path":
        through_h = xp.zeros_like(dh)
    elif kind == "no_o":
        through_h = dh * (1.0 - tc * tc)
    elif kind == "tanh_c_derivative":
        assert slip.option is not None
        through_h = dh * o * _derivative(slip.option, tc, c_new)
    else:
        through_h = dh * o * (1.0 - tc * tc)
    dc = dc_next + through_h
    d_values = {
        "i": dc * g,
        "f": dc * (c_new if kind == "f_pairs_c_new" else c),
        "g": dc * i,
        "o": dh * (c_new if kind == "o_uses_c" else tc),
    }
    da = _stacked(slip, GATES["lstm"], {
        k: d_values[k] * _gate_derivative(slip, k, values[k], pre[k]) for k in GATES["lstm"]
    }, xp)
    # What reaches c_{t−1}: f ∘ ∂J/∂c_t, unless the slip carries something else.
    carried = {"no_forget": dc, "carried_next_only": dc_next * f}.get(kind, dc * f)
    return da, da, (da @ p["W_hh"], carried)


def _gru_step(
    slip: GateSlip, p: Mapping[str, Array], cache: StepCache, d_new: State, xp: Any
) -> tuple[Array, Array, State]:
    """``h' = (1 − z) ∘ n + z ∘ h`` with ``n = tanh(u_n + r ∘ (W_hn h + b_hn))``, read
    backward one product at a time."""
    kind = slip.kind
    h = cache.prev[0]
    dh = d_new[0]
    n_h = h.shape[-1]
    u_r, u_z, u_n = split(cache.u, 3, xp)
    w_r, w_z, w_n = split(cache.hw, 3, xp)
    pre = {"r": u_r + w_r, "z": u_z + w_z, "n": u_n + cache.values[0] * w_n}
    # The gate values the backward reads (a slip may read two in each other's place).
    r, z, n = _swapped(slip, "values_swapped", GATES["gru"], tuple(cache.values))
    # Which of z and 1 − z weighs n, and which the carried h (Cho's paper swaps them).
    to_n = z if kind in ("update_cho", "update_dn") else 1.0 - z
    to_h = 1.0 - z if kind in ("update_cho", "update_direct") else z
    state = (1.0 - z) * n + z * h if kind == "dz_new_state" else h
    dz = dh * (n - state) if kind in ("update_cho", "update_sign") else dh * (state - n)
    da_n = dh * to_n * _gate_derivative(slip, "n", n, pre["n"])
    w_hn = p["W_hh"][2 * n_h :]
    if kind == "reset_before":  # the backward of tanh(u_n + W_hn (r ∘ h) + b_hn)
        d_rh = da_n @ w_hn
        dr = d_rh * h
    elif kind == "reset_bias_outside":  # the backward of tanh(u_n + r ∘ (W_hn h) + b_hn)
        dr = da_n * (w_n - p["b_hh"][2 * n_h :])
    else:
        dr = da_n * w_n
    da = {"r": dr * _gate_derivative(slip, "r", r, pre["r"]),
          "z": dz * _gate_derivative(slip, "z", z, pre["z"]), "n": da_n}
    du = _stacked(slip, GATES["gru"], da, xp)
    # Through W_hn the gradient is r ∘ ∂J/∂a_n (r multiplies W_hn h + b_hn).
    through_w = {**da, "n": da_n if kind in ("reset_before", "reset_not_in_w") else da_n * r}
    dhw = _stacked(slip, GATES["gru"], through_w, xp)
    if kind == "reset_before":
        dh_prev = dh * to_h + dhw[..., : 2 * n_h] @ p["W_hh"][: 2 * n_h] + d_rh * r
    else:
        dh_prev = dh * to_h + dhw @ p["W_hh"]
    return du, dhw, (dh_prev,)


def _gate_letters(label: str, gate: str) -> str:
    """A derivative label in a gate's letters: ``h (1 − h)`` -> ``f (1 − f)``, ``a`` -> its
    pre-activation ``a_f``."""
    return re.sub(r"\ba\b", f"a_{gate}", re.sub(r"\bh\b", gate, label))


def gate_slips(cell: str) -> list[GateSlip]:
    """Every slip of ``cell``'s backward the diagnosis tests, simplest first."""
    gates = GATES[cell]
    out: list[GateSlip] = []
    for gate in gates:
        act = ACTIVATIONS[gate]
        name = "σ" if act == "sigmoid" else "tanh"
        for label in GATE_DERIVATIVES:
            if label in RIGHT_DERIVATIVES[act] or label in _NOT_A_GATE_DERIVATIVE:
                continue
            out.append(GateSlip(
                "wrong_gate_derivative",
                f"gate {gate}: uses {_gate_letters(label, gate)} as the derivative of its "
                f"{name} (with {gate} the gate's value, a_{gate} its pre-activation)",
                "derivative", gate, label,
            ))
    for k, first in enumerate(gates):
        for second in gates[k + 1 :]:
            out.append(GateSlip(
                "gates_permuted",
                f"the step's backward stacks ∂J/∂a of gates {first} and {second} in each "
                f"other's place (another order than its forward reads; the recursion through "
                f"W_hh gets them swapped too)", "swap", f"{first}, {second}",
            ))
            out.append(GateSlip(
                "gate_values_swapped",
                f"the step's backward reads the values of gates {first} and {second} in each "
                "other's place (its cache unpacked in another order than the forward packed "
                "it)", "values_swapped", f"{first}, {second}",
            ))
    out.append(GateSlip(
        "off_by_one_state", "∇W_hh pairs ∂J/∂a_t with h_t instead of h_{t−1}",
        "w_hh_current",
    ))
    out.extend(_LSTM_SLIPS if cell == "lstm" else _GRU_SLIPS)
    bias_gates: tuple[str | None, ...] = (*gates, None)
    for one in bias_gates:
        which = f"gate {one}'s bias gradient" if one else "the bias gradient (every gate)"
        for option, step in (("last", "the last step the backward loop visits"),
                             ("first", "the first step the backward loop visits")):
            out.append(GateSlip(
                "gate_bias_one_step",
                f"{which} holds one step's contribution only, {step} ('=' where '+=' "
                "belongs)", "bias_one_step", one, option,
            ))
    return out


_LSTM_SLIPS: list[GateSlip] = [
    GateSlip("off_by_one_state", "gate f: ∂J/∂f pairs ∂J/∂c_t with c_t instead of c_{t−1}",
             "f_pairs_c_new", "f"),
    GateSlip("cell_state_path", "the cell-state gradient from step t+1 is dropped: ∂J/∂c_t "
             "gets only what arrives through h_t (dc_next never added, or never passed "
             "back)", "c_dropped"),
    GateSlip("cell_state_path", "∂J/∂c_t gets nothing through h_t: the path "
             "∂J/∂h_t ∘ o ∘ tanh′(c_t) is missing (only dc_next is carried)", "no_h_path"),
    GateSlip("cell_state_path", "what is carried to step t−1 is f ∘ dc_next (the gradient "
             "that arrived from step t+1) instead of f ∘ ∂J/∂c_t (which adds step t's h path)",
             "carried_next_only"),
    GateSlip("forget_gate", "gate f: the carried cell-state gradient is not multiplied by the "
             "forget gate (∂J/∂c_{t−1} = ∂J/∂c_t instead of f ∘ ∂J/∂c_t)", "no_forget", "f"),
    GateSlip("output_gate", "gate o: ∂J/∂o uses c_t where tanh(c_t) belongs "
             "(h_t = o ∘ tanh(c_t))", "o_uses_c", "o"),
    GateSlip("output_gate", "gate o: the path from h_t into c_t leaves out o "
             "(∂J/∂h_t ∘ tanh′(c_t) instead of ∂J/∂h_t ∘ o ∘ tanh′(c_t))", "no_o", "o"),
    *(
        GateSlip("output_gate", f"gate o: uses {_gate_letters(label, 'tanh(c)')} as tanh′(c_t) "
                 "on the path from h_t into c_t (1 − tanh(c)² belongs)".replace(
                     "a_tanh(c)", "c"), "tanh_c_derivative", "o", label)
        for label in GATE_DERIVATIVES
        if label not in RIGHT_DERIVATIVES["tanh"] and label not in _NOT_A_GATE_DERIVATIVE
    ),
]

_GRU_SLIPS: list[GateSlip] = [
    GateSlip("off_by_one_state", "gate z: ∂h_t/∂z uses h_t − n where h_{t−1} − n belongs",
             "dz_new_state", "z"),
    GateSlip("update_gate", "gate z: the backward of h_t = z ∘ n + (1 − z) ∘ h_{t−1} (Cho's "
             "convention) on torch's h_t = (1 − z) ∘ n + z ∘ h_{t−1}: z and 1 − z swapped",
             "update_cho", "z"),
    GateSlip("update_gate", "gate z: ∂J/∂n uses z where 1 − z belongs", "update_dn", "z"),
    GateSlip("update_gate", "gate z: the direct path to h_{t−1} uses 1 − z where z belongs",
             "update_direct", "z"),
    GateSlip("update_gate", "gate z: ∂h_t/∂z has the wrong sign (n − h_{t−1} instead of "
             "h_{t−1} − n)", "update_sign", "z"),
    GateSlip("reset_gate", "gate r: the backward of n = tanh(W_in x + W_hn (r ∘ h) + b_hn) "
             "(reset before the matmul) on torch's n = tanh(W_in x + b_in + r ∘ (W_hn h + "
             "b_hn))", "reset_before", "r"),
    GateSlip("reset_gate", "gate r: b_hn is treated as outside the reset gate "
             "(r ∘ (W_hn h) + b_hn): ∂J/∂r misses b_hn and ∂J/∂b_hn misses r",
             "reset_bias_outside", "r"),
    GateSlip("reset_gate", "gate r: the gradient through W_hn h + b_hn is not multiplied by "
             "r (∇W_hn, ∇b_hn and the recursion to h_{t−1} use ∂J/∂a_n instead of "
             "r ∘ ∂J/∂a_n)", "reset_not_in_w", "r"),
]


@dataclass(frozen=True)
class _Sweep:
    deltas: dict[str, bptt.BlockDeltas]  #: by block prefix
    data: dict[str, np.ndarray]  #: inputs' and initial states' gradients


def _with_batch(a: np.ndarray) -> np.ndarray:
    """``(T, n)`` as ``(T, 1, n)``: an unbatched case is a batch of one."""
    return a[:, None, :] if a.ndim == 2 else a


class GatedVariants:
    """Every :func:`gate_slips` variant's gradients for one float64 gated case (layer mode:
    head none, an upstream gradient for the top layer)."""

    def __init__(self, case: NetworkCase) -> None:
        self.spec = case.spec
        self.arrays = {k: np.asarray(v, dtype=np.float64) for k, v in case.arrays.items()}
        self.upstream = np.asarray(case.upstream, dtype=np.float64)
        self.gates = GATES[self.spec.cell]
        self.n_h = self.spec.n_h
        self.T = case.seq_len

    @cached_property
    def traj(self) -> Any:
        """The one forward pass every sweep shares."""
        return forward(self.spec, self.arrays, np, upstream=self.upstream)

    @cached_property
    def slips(self) -> list[GateSlip]:
        return gate_slips(self.spec.cell)

    def _sweep(self, slip: GateSlip, recurrent: bool = True) -> _Sweep:
        record: dict[str, bptt.BlockDeltas] = {}
        step = step_backward if slip.kind in ("none", *WEIGHT_KINDS) else partial(
            slipped_step, slip)
        grads = bptt.backward(self.spec, self.arrays, self.traj, np, upstream=self.upstream,
                              recurrent=recurrent, backward_step=step, record=record)
        params = set(self.spec.param_names)
        return _Sweep(record, {k: np.asarray(v) for k, v in grads.items() if k not in params})

    @cached_property
    def correct(self) -> _Sweep:
        """torch's equations through :func:`~rnn_oracle.architectures.cells.step_backward`:
        the per-step reference contributions, and what the weight slips start from."""
        return self._sweep(NO_SLIP)

    @cached_property
    def cut(self) -> _Sweep:
        """The recurrence cut in every block (``local_only``), for its per-step stacks."""
        return self._sweep(NO_SLIP, recurrent=False)

    @cached_property
    def _sweeps(self) -> dict[GateSlip, _Sweep]:
        """Every slip's sweep (weight slips share the correct one), computed once per case
        when the first array needs them."""
        return {s: self.correct if s.kind in WEIGHT_KINDS else self._sweep(s)
                for s in self.slips}

    def sweep_of(self, slip: GateSlip) -> _Sweep:
        if slip is NO_SLIP:
            return self.correct
        return self._sweeps[slip]

    def value(self, slip: GateSlip, canonical: str) -> np.ndarray | None:
        """The gradient of ``canonical`` that ``slip`` gives, or ``None`` where it is the
        correct one by construction (a weight slip elsewhere)."""
        return self._gradient(self.sweep_of(slip), slip, canonical, per_step=False)

    def steps(self, slip: GateSlip, canonical: str) -> np.ndarray | None:
        """The per-step contributions ``(T, *shape)`` of a block parameter under ``slip``,
        in sequence time (a backward block's step ``k`` is time ``T − 1 − k``); ``None``
        for inputs and initial states."""
        return self._gradient(self.sweep_of(slip), slip, canonical, per_step=True)

    def cut_steps(self, canonical: str) -> np.ndarray | None:
        return self._gradient(self.cut, NO_SLIP, canonical, per_step=True)

    def _gradient(
        self, sweep: _Sweep, slip: GateSlip, canonical: str, per_step: bool
    ) -> np.ndarray | None:
        prefix, _, name = canonical.rpartition(".")
        deltas = sweep.deltas.get(prefix + ".") if prefix else None
        if deltas is None or name not in ("W_xh", "W_hh", "b_xh", "b_hh"):
            if per_step:
                return None
            untouched = slip.kind in WEIGHT_KINDS
            return None if untouched else sweep.data.get(canonical)
        if slip.kind in WEIGHT_KINDS and not _touches(slip, name):
            return None
        out = self._param(deltas, slip, name, per_step)
        if per_step and deltas.run.block.direction == "backward":
            out = out[::-1]
        return out

    def _param(
        self, deltas: bptt.BlockDeltas, slip: GateSlip, name: str, per_step: bool
    ) -> np.ndarray:
        """One block parameter's gradient (or per-step stack) from the sweep's deltas."""
        du, dhw = _with_batch(np.asarray(deltas.du)), _with_batch(np.asarray(deltas.dhw))
        run = deltas.run
        delta = du if name in ("W_xh", "b_xh") else dhw
        if name.startswith("W"):
            prev = np.stack([c.prev[0] for c in run.caches])
            state = np.asarray(run.hs) if slip.kind == "w_hh_current" else prev
            pair = _with_batch(np.asarray(run.xs) if name == "W_xh" else state)
            out = _outer(delta, pair, per_step)
            if slip.kind == "reset_before" and name == "W_hh":
                # W_hn pairs ∂J/∂a_n with r ∘ h_{t−1}: the reset applied before the matmul.
                rows = slice(2 * self.n_h, 3 * self.n_h)
                r = _with_batch(np.stack([c.values[0] for c in run.caches]))
                out[..., rows, :] = _outer(delta[..., rows], r * _with_batch(prev), per_step)
            return out
        if slip.kind == "reset_bias_outside" and name == "b_hh":
            # b_hn outside the reset gate: its gradient is ∂J/∂a_n, without r.
            rows = slice(2 * self.n_h, 3 * self.n_h)
            delta = delta.copy()
            delta[..., rows] = du[..., rows]
        out = delta.sum(axis=1) if per_step else delta.sum(axis=(0, 1))
        if slip.kind == "bias_one_step":
            out = self._one_step(delta, out, slip, per_step)
        return np.asarray(out)

    def _one_step(
        self, delta: np.ndarray, total: np.ndarray, slip: GateSlip, per_step: bool
    ) -> np.ndarray:
        """A bias whose gate block (or every block) keeps one step: the last the backward
        loop visits is the block's first step, the first it visits the block's last."""
        k = 0 if slip.option == "last" else delta.shape[0] - 1
        rows = slice(None)
        if slip.gate is not None:
            g = self.gates.index(slip.gate)
            rows = slice(g * self.n_h, (g + 1) * self.n_h)
        out = np.array(total, copy=True)
        kept = delta[k].sum(axis=0)[rows]
        if per_step:
            out[:, rows] = 0.0
            out[k, rows] = kept
        else:
            out[rows] = kept
        return out


def _touches(slip: GateSlip, name: str) -> bool:
    """Whether a weight slip changes parameter ``name`` (a block's)."""
    if slip.kind == "bias_one_step":
        return name in ("b_xh", "b_hh")
    return name == "W_hh"


def _outer(delta: np.ndarray, pair: np.ndarray, per_step: bool) -> np.ndarray:
    """``Σ_b δ_tᵀ s_t`` per step ``(T, rows, cols)``, or summed over steps (one product)."""
    if per_step:
        return np.einsum("tbi,tbj->tij", delta, pair)
    return delta.reshape(-1, delta.shape[-1]).T @ pair.reshape(-1, pair.shape[-1])


def gate_map(
    *,
    gates: tuple[str, ...],
    gate_axis: int,
    got: np.ndarray,
    reference: np.ndarray,
    atol: float,
    reference_steps: np.ndarray | None,
    candidate_steps: np.ndarray | None,
    diagnosis: Diagnosis | None,
    reversed_block: bool = False,
) -> GateMap:
    """The :class:`~rnn_oracle.oracle.report.GateMap` of a failing gated parameter in the
    user's view: ``gates`` are its blocks along ``gate_axis`` (one gate for a gate's own
    block), the steps come from the diagnosed slip's per-step stack ``candidate_steps``
    against the reference's (both in sequence time). ``reversed_block``: the array is a
    backward-direction block's, whose backward pass runs from time 0 up."""
    bound = max(atol, 1e-300)

    def per_gate(a: np.ndarray, axis: int) -> np.ndarray:
        """max |a| over each gate block along ``axis``, every other axis but the first
        (steps) reduced when ``a`` is a stack."""
        blocks = np.split(np.abs(a), len(gates), axis=axis)
        keep = 1 if a.ndim > got.ndim else 0
        return np.stack([b.reshape(*b.shape[:keep], -1).max(axis=-1) for b in blocks])

    gate_errors = per_gate(got - reference, min(gate_axis, got.ndim - 1)) / bound
    usable = (
        diagnosis is not None and diagnosis.cause != "unknown"
        and candidate_steps is not None and reference_steps is not None
        and candidate_steps.shape == reference_steps.shape
    )
    if not usable:
        return GateMap(gates, gate_errors, None, None,
                       "your gradient's max |error| / bound per gate block, all steps together "
                       "(no diagnosed slip with per-step contributions says how it spreads "
                       "over the steps)")
    assert diagnosis is not None and candidate_steps is not None
    axis = min(gate_axis, got.ndim - 1) + 1
    steps = per_gate(np.asarray(candidate_steps) - reference_steps, axis) / bound
    past = np.flatnonzero(steps.max(axis=0) > 1.0)
    starts = None if not past.size else int(past.min() if reversed_block else past.max())
    return GateMap(
        gates, gate_errors, steps, starts,
        f"the diagnosed slip ({diagnosis.cause}, {diagnosis.confidence} fit): max |its "
        "step-t contribution − the reference's| / bound, per gate block",
    )
