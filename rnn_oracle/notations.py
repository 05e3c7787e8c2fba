"""Every named parameter convention as a formula notation, and formulas checked by the oracle.

A notation declares the symbols a text or framework writes — with shapes in ``n_x``,
``n_h``, ``n_y`` and its own orientation (seed 000's row vectors ``h^{(t)}``, its input
matrix ``I``, which is not the identity) — and what each means in the canonical
column-vector network of DESIGN.md. The parameters' meanings come from
:data:`rnn_oracle.params.PRESETS` (``"W_hh.T"`` becomes the transpose of ``W_hh``);
the per-step quantities (states, inputs, outputs, losses) are added here with the
notation's orientation and spelling.

:func:`check_against_oracle` evaluates a formula's right-hand side on a real case at step
``t`` and compares it with the quantity its left-hand side names: seed 000's
``∂J^{(t)}/∂H |_t`` is ``reference(case, method="bptt").local["W_hh"][t]`` transposed
(and negated: seed 000's ``J`` is ``+Σ y log ŷ``); local partials are also recomputed by
complex step through one step of the model, full gradients by ``complex_step``. The
network's head (softmax cross-entropy or linear MSE), loss sign and reduction over time
are options; every loss value comes from :mod:`rnn_oracle.model`'s forward pass.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conventions.formulas import (
    Call,
    Derivative,
    Expr,
    Formula,
    FormulaError,
    MatMul,
    Neg,
    Notation,
    Sym,
    Symbol,
    Transpose,
    check,
    col,
    derivative_map,
    derivative_value,
    evaluate,
    matrix,
    peel,
    render,
    row,
    scalar,
    simplify,
    walk,
)
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle.errors import NotJudgedError, OracleError
from rnn_oracle.params import ALIASES, PRESETS, ParamConvention
from rnn_oracle.spec import RNNSpec

__all__ = [
    "CANONICAL",
    "NOTATIONS",
    "OracleCheck",
    "check_against_oracle",
    "get_notation",
]

_SHAPES: dict[str, tuple[str, str]] = {
    "W_hh": ("n_h", "n_h"), "W_xh": ("n_h", "n_x"), "W_hy": ("n_y", "n_h"),
    "b_h": ("n_h", "1"), "b_y": ("n_y", "1"),
}

# Per-step canonical quantities: name → (size, description). Column vectors.
_STEP: dict[str, tuple[str, str]] = {
    "x[t]": ("n_x", "input at step t"),
    "x[t+1]": ("n_x", "input at step t+1"),
    "h[t-1]": ("n_h", "hidden state before step t"),
    "h[t]": ("n_h", "hidden state at step t"),
    "h[t+1]": ("n_h", "hidden state at step t+1"),
    "a[t]": ("n_h", "pre-activation at step t"),
    "a[t+1]": ("n_h", "pre-activation at step t+1"),
    "o[t]": ("n_y", "output pre-activation (logits) at step t"),
    "yhat[t]": ("n_y", "the head's output at step t: softmax(o) (softmax_ce) or o "
                "(linear_mse)"),
    "y[t]": ("n_y", "target at step t: one-hot (softmax_ce) or dense (linear_mse)"),
}


def _canonical() -> dict[str, Symbol]:
    out: dict[str, Symbol] = {}
    for name, (rows, cols) in _SHAPES.items():
        out[name] = matrix(name, rows, 1 if cols == "1" else cols, description="parameter")
    for name, (size, what) in _STEP.items():
        out[name] = col(name, size, description=what)
    out["L[t]"] = scalar("L[t]", description="loss of step t: −Σ y log ŷ (softmax_ce) or "
                         "½‖o − y‖² (linear_mse), negated under loss_sign='negated'")
    out["L"] = scalar("L", description="the loss: Σ_t L[t], or (1/T) Σ_t L[t] for a mean "
                      "over time")
    return out


CANONICAL: Notation = Notation(
    "canonical",
    _canonical(),
    layout="mixed",
    description="DESIGN.md's canonical network: column vectors, W_hh h + W_xh x + b_h",
)
"""The canonical notation itself (every symbol means itself)."""

_C = CANONICAL.symbols


@dataclass(frozen=True)
class _Spelling:
    """How a notation writes the per-step quantities (canonical name → its name)."""

    step: Mapping[str, str]
    losses: Mapping[str, tuple[str, int]]  # its name → (canonical, sign)
    derived: Mapping[str, tuple[Expr, str]]  # its name → (canonical meaning, size)
    params: Mapping[str, str]  # respelling of PRESETS names that are not formula names
    cell: str = "tanh"
    layout: str = "mixed"
    sizes: Mapping[str, str] = None  # type: ignore[assignment]
    description: str = ""


_DEFAULT_STEP = {n: n for n in _STEP}
_DEFAULT_LOSSES = {"L[t]": ("L[t]", 1), "L": ("L", 1)}

_SPELLINGS: dict[str, _Spelling] = {
    "dlbook": _Spelling(_DEFAULT_STEP, _DEFAULT_LOSSES, {}, {},
                        description="Goodfellow et al. §10.2 (column vectors)"),
    "cs224n": _Spelling(
        {"x[t]": "e[t]", "x[t+1]": "e[t+1]", "h[t-1]": "h[t-1]", "h[t]": "h[t]",
         "h[t+1]": "h[t+1]", "a[t]": "z_1[t]", "a[t+1]": "z_1[t+1]", "o[t]": "z_2[t]",
         "yhat[t]": "yhat[t]", "y[t]": "y[t]"},
        # math.SE 2512465 writes J = +Σ y log ŷ: the negated loss (its answer drops the (t)).
        {"J[t]": ("L[t]", -1), "J": ("L[t]", -1)},
        {}, {"b1": "b_1", "b2": "b_2"}, cell="sigmoid",
        sizes={"D_h": "n_h", "d": "n_x", "|V|": "n_y"},
        description="CS224n RNN LM as math.SE 2512465 writes it: row vectors, sigmoid, "
        "J = +Σ y log ŷ",
    ),
    "stats_se_565719": _Spelling(
        {"x[t]": "e_1", "x[t+1]": "e_2", "h[t-1]": "h_0", "h[t]": "h_1", "h[t+1]": "h_2",
         "a[t]": "a_1", "a[t+1]": "a_2"},
        {"L_1": ("L[t]", 1)},
        {"w": (Call("vec", Sym("W_xh")), "n_x*n_h"),
         "f": (MatMul(Sym("W_xh"), Sym("x[t]")), "n_h")},
        {}, layout="denominator", sizes={"n_i": "n_x"},
        description="stats.SE 565719: column vectors, step 1, w = vec(W_hxᵀ), denominator "
        "layout",
    ),
    "vardhan2022": _Spelling(
        {"x[t]": "x[t]", "x[t+1]": "x[t+1]", "h[t-1]": "a[t-1]", "h[t]": "a[t]",
         "h[t+1]": "a[t+1]", "a[t]": "z_a[t]", "a[t+1]": "z_a[t+1]", "o[t]": "z_y[t]",
         "yhat[t]": "yhat[t]", "y[t]": "y[t]"},
        # J is the total loss; J^{(t)}, the loss of step t, is an addition for conversions.
        {"J": ("L", 1), "J[t]": ("L[t]", 1)}, {}, {}, layout="numerator",
        sizes={"n_a": "n_h"},
        description="H. Vardhan (2022): column vectors, numerator layout, J summed over "
        "time",
    ),
    "deeplearning_ai": _Spelling(
        {"x[t]": "x[t]", "x[t+1]": "x[t+1]", "h[t-1]": "a[t-1]", "h[t]": "a[t]",
         "h[t+1]": "a[t+1]", "a[t]": "z_a[t]", "a[t+1]": "z_a[t+1]", "o[t]": "z_y[t]",
         "yhat[t]": "yhat[t]", "y[t]": "y[t]"},
        {"J": ("L", 1), "J[t]": ("L[t]", 1)}, {}, {}, sizes={"n_a": "n_h"},
        description="deeplearning.ai Sequence Models: column vectors, W_aa a + W_ax x + b_a, "
        "J summed over time",
    ),
    "torch": _Spelling(_DEFAULT_STEP, _DEFAULT_LOSSES, {}, {},
                       description="torch.nn.RNN: rows, h W_hhᵀ + x W_ihᵀ + b_ih + b_hh"),
    "keras": _Spelling(_DEFAULT_STEP, _DEFAULT_LOSSES, {}, {},
                       description="Keras SimpleRNN: rows, x K + h R + b"),
    "flax": _Spelling(_DEFAULT_STEP, _DEFAULT_LOSSES, {}, {},
                      description="Flax SimpleCell: rows, Dense kernels (in, out)"),
    "cs231n": _Spelling(_DEFAULT_STEP, _DEFAULT_LOSSES, {}, {"Wx": "W_x", "Wh": "W_h"},
                        description="CS231n: rows, x Wx + prev_h Wh + b"),
    "karpathy": _Spelling(
        _DEFAULT_STEP, _DEFAULT_LOSSES, {},
        {"Wxh": "W_xh", "Whh": "W_hh", "bh": "b_h", "Why": "W_hy", "by": "b_y"},
        description="min-char-rnn: column vectors, Wxh x + Whh h + bh",
    ),
}


def _param_symbols(conv: ParamConvention, spelling: _Spelling) -> dict[str, Symbol]:
    """The convention's parameters, with meanings derived from ``PRESETS``."""
    out: dict[str, Symbol] = {}
    row_vectors = conv.vectors == "row"
    for user in conv.params:
        base, transposed = conv.canonical_of(user)
        name = spelling.params.get(user, user.replace(".", "_"))
        meaning: Expr = Sym(base)
        if transposed:
            meaning = Transpose(meaning)
        elif base.startswith("b") and row_vectors:
            meaning = Transpose(meaning)  # a bias added to row vectors is a row
        shape = check(meaning, _C).shape
        out[name] = Symbol(name, shape, meaning, f"{user} ↔ {base}{'ᵀ' if transposed else ''}")
    return out


def _build(name: str, *, literal_loss: bool = True) -> Notation:
    conv = PRESETS[name]
    spelling = _SPELLINGS[name]
    rows = conv.vectors == "row"
    symbols = _param_symbols(conv, spelling)
    for canonical_name, own in spelling.step.items():
        size = _STEP[canonical_name][0]
        meaning: Expr = Sym(canonical_name)
        if rows:
            symbols[own] = row(own, size, means=Transpose(meaning),
                               description=_STEP[canonical_name][1])
        else:
            symbols[own] = col(own, size, means=meaning, description=_STEP[canonical_name][1])
    for own, (canonical_name, sign) in spelling.losses.items():
        if not literal_loss:
            sign = 1
        meaning = Sym(canonical_name) if sign > 0 else Neg(Sym(canonical_name))
        symbols[own] = scalar(own, means=meaning,
                              description=f"{'minus ' if sign < 0 else ''}{canonical_name}")
    for own, (meaning, size) in spelling.derived.items():
        symbols[own] = col(own, size, means=meaning)
    return Notation(
        name, symbols, layout=spelling.layout,  # type: ignore[arg-type]
        canonical=_C, sizes=dict(spelling.sizes or {}), description=spelling.description,
    )


NOTATIONS: dict[str, Notation] = {"canonical": CANONICAL} | {n: _build(n) for n in PRESETS}
"""Every notation by name: ``canonical`` and one per named parameter convention (the
aliases of :data:`rnn_oracle.params.ALIASES` give the same objects)."""
NOTATIONS.update({alias: NOTATIONS[name] for alias, name in ALIASES.items()})

CELLS: dict[str, str] = {"canonical": "tanh"} | {n: s.cell for n, s in _SPELLINGS.items()}


def get_notation(name: str, *, literal_loss: bool = True) -> Notation:
    """A notation by name. ``literal_loss=False`` reads seed 000's ``J`` as the standard
    loss ``−Σ y log ŷ`` instead of the ``+Σ y log ŷ`` the seed writes."""
    if name not in NOTATIONS:
        aliases = ", ".join(f"{a}={n}" for a, n in ALIASES.items())
        known = ", ".join(n for n in NOTATIONS if n not in ALIASES)
        raise OracleError(
            f"notation: unknown name {name!r}; known: {known} (aliases {aliases})"
        )
    name = ALIASES.get(name, name)
    if not literal_loss and name in _SPELLINGS:
        return _build(name, literal_loss=False)
    return NOTATIONS[name]


# -- the oracle --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleCheck:
    """A formula held against the oracle: ``passed``, the normwise relative ``error``,
    what it was compared with (``quantity``, ``cross_check``), a ``message`` and, for a
    formula that does not match, the ``diagnosis`` in the oracle's words (``"negated"``,
    ``"missing Σ"``, ``"missing factor"``, ``"another quantity"``, joined by ``", "``;
    ``""`` when none was found)."""

    passed: bool
    error: float
    quantity: str
    cross_check: str
    message: str
    diagnosis: str = ""

    def __bool__(self) -> bool:
        return self.passed


_PARAMS = ("W_hh", "W_xh", "b_h", "W_hy", "b_y")

_ORACLE_HEADS: tuple[str, ...] = ("softmax_ce", "linear_mse")
"""The heads the oracle's notations can write (every head of
:data:`rnn_oracle.spec.HEADS` with an output layer: ``o``, ``ŷ``, ``y`` and ``L``)."""


class _Step:
    """The canonical quantities of one case around step ``t``, and one-step derivatives
    by complex step (independent of any hand derivation). Steps are 0-based, the last
    one included; quantities of step ``t+1`` do not exist at the last step.

    ``spec`` says the head, the loss sign and the time reduction: ``L[t]`` is step ``t``'s
    own loss with the sign (``sign · ℓ_t``, as :class:`~rnn_oracle.spec.RNNSpec` defines
    it) and ``L`` their reduction over time (``Σ_t L[t]``, or ``(1/T) Σ_t L[t]``). Every
    loss value comes from :func:`rnn_oracle.model.forward`, the forward pass the rest of
    the package differentiates.
    """

    SEQ_LEN = 4

    def __init__(
        self, spec: RNNSpec, t: int | None, seed: int, case: Any = None, ref: Any = None
    ) -> None:
        from rnn_oracle.case import make_case
        from rnn_oracle.model import loss_weight

        self.spec = spec
        self.case = case if case is not None else make_case(self.spec, seq_len=self.SEQ_LEN,
                                                             seed=seed)
        self.seed = seed
        self._ref = ref
        self.t = 2 if t is None else t
        last = self.case.seq_len - 1
        if not 0 <= self.t <= last:
            raise OracleError(f"--step/t: expected a step 0 <= t <= {last} (0-based, "
                              f"{self.case.seq_len} steps), got {t}")
        # ∂L/∂L[t]: the model's weight of a step's loss without its sign (1, or 1/T for a
        # mean over time), so that L[t] keeps the sign and L = reduction · Σ_t L[t].
        self.reduction_factor = loss_weight(self.spec, self.case.seq_len, None) / spec.sign
        p = {k: np.asarray(v) for k, v in self.case.params.items()}
        self.params = {**p, "b_h": p["b_h"][:, None], "b_y": p["b_y"][:, None]}
        self.sizes = {"n_x": spec.n_x, "n_h": spec.n_h, "n_y": spec.n_y}
        self.steps: list[dict[str, Any]] = []
        h_prev = np.asarray(self.case.h0)[:, None]
        for tau in range(self.case.seq_len):
            self.steps.append(self.run_step(h_prev, tau))
            h_prev = self.steps[-1]["h"]
        t_ = self.t
        prev = self.case.h0[:, None] if t_ == 0 else self.steps[t_ - 1]["h"]
        self.values: dict[str, np.ndarray] = {
            **self.params,
            "x[t]": self.x(t_), "h[t-1]": np.asarray(prev),
            "h[t]": self.steps[t_]["h"], "a[t]": self.steps[t_]["a"],
            "o[t]": self.steps[t_]["o"], "yhat[t]": self.steps[t_]["yhat"],
            "y[t]": self.y(t_), "L[t]": self.steps[t_]["L"],
            "L": np.array([[float(self.reference().loss)]]),
        }
        if t_ < last:
            self.values.update({"x[t+1]": self.x(t_ + 1), "h[t+1]": self.steps[t_ + 1]["h"],
                                "a[t+1]": self.steps[t_ + 1]["a"]})

    def at(self, tau: int) -> _Step:
        """The same case seen from step ``tau``."""
        return _Step(self.spec, tau, self.seed, self.case, self.reference())

    @property
    def last(self) -> int:
        return int(self.case.seq_len - 1)

    def reference(self) -> Any:
        """The hand BPTT of the case (NumPy arrays): computed once, shared by the views
        :meth:`at` gives."""
        from rnn_oracle._reference import reference

        if self._ref is None:
            self._ref = reference(self.case, method="bptt").numpy()
        return self._ref

    def x(self, tau: int) -> np.ndarray:
        return np.asarray(self.case.inputs[tau])[:, None]

    def y(self, tau: int) -> np.ndarray:
        """The target of step ``tau`` as a column: one-hot (softmax_ce) or dense."""
        assert self.case.targets is not None
        if self.spec.head == "softmax_ce":
            return np.eye(self.spec.n_y)[int(self.case.targets[tau])][:, None]
        return np.asarray(self.case.targets[tau])[:, None]

    def head(self, o: Any, tau: int) -> tuple[Any, Any]:
        """``(ŷ, L[t])`` of the output ``o`` (a column) at step ``tau``, as the model's
        forward pass computes them: a one-step network whose output layer emits ``o``
        itself (zero weights, bias ``o``), under the spec's head and sign, summed (one
        step's own loss). The head's formulas are written once, in the model."""
        from rnn_oracle.model import forward

        spec = self.spec.replace(time_reduction="sum")
        o_row = o[:, 0]
        zero = 0 * o_row[:1]  # keeps the dtype (complex under complex step)
        n_x, n_h = spec.n_x, spec.n_h
        params = {"W_hh": np.zeros((n_h, n_h)) + zero, "W_xh": np.zeros((n_h, n_x)) + zero,
                  "b_h": np.zeros(n_h) + zero, "W_hy": np.zeros((spec.n_y, n_h)) + zero,
                  "b_y": o_row}
        traj = forward(spec, params, np.zeros((1, n_x)) + zero, np.zeros(n_h) + zero, np,
                       targets=self.y(tau).T)
        assert traj.yhat is not None  # every head of _ORACLE_HEADS has an output layer
        return traj.yhat[0][:, None], np.reshape(traj.loss, (1, 1))

    def run_step(self, start: Any, tau: int, **given: Any) -> dict[str, Any]:
        """Step ``tau`` from ``h_prev``; ``given`` overrides inputs, parameters or an
        intermediate (``a``, ``h``, ``o``) to differentiate from there."""
        from rnn_oracle.model import activation

        P = {**self.params, **{k: v for k, v in given.items() if k in _PARAMS}}
        h_prev = given.get("h_prev", start)
        x = given.get("x", self.x(tau))
        a = given.get("a", P["W_hh"] @ h_prev + P["W_xh"] @ x + P["b_h"])
        h = given.get("h", activation(self.spec.cell, a, np))
        o = given.get("o", P["W_hy"] @ h + P["b_y"])
        yhat, L = self.head(o, tau)
        return {"a": a, "h": h, "o": o, "yhat": yhat, "L": L}

    def complex_step(self, num: str, den: str) -> np.ndarray | None:
        """``d num / d den`` through one step, as a (num size, den size) matrix."""
        shift = 1 if num.endswith("[t+1]") else 0
        tau = self.t + shift
        field = {"a": "a", "h": "h", "o": "o", "yhat": "yhat", "L": "L"}.get(num.split("[")[0])
        if field is None or (num == "L[t]" and shift) or num == "L" or tau > self.last:
            return None
        own = {"a[t]": "a", "h[t]": "h", "o[t]": "o", "x[t]": "x", "h[t-1]": "h_prev"}
        if shift:
            own = {"a[t+1]": "a", "x[t+1]": "x", "h[t]": "h_prev"}
        key = den if den in _PARAMS else own.get(den)
        if key is None or den not in self.values:
            return None
        base = self.values[den].astype(complex)
        h_prev = self.values["h[t]" if shift else "h[t-1]"]
        out = np.asarray(self.run_step(h_prev, tau)[field])
        J = np.empty((out.size, base.size))
        for k in range(base.size):
            step = np.zeros(base.size, dtype=complex)
            step[k] = 1e-30j
            value = self.run_step(h_prev, tau, **{key: base + step.reshape(base.shape)})[field]
            J[:, k] = np.imag(np.asarray(value)).reshape(-1) / 1e-30
        return J


def _quantity(
    step: _Step, num: str, den: str, *, local: bool, per_step: bool
) -> tuple[np.ndarray, str, Callable[[], tuple[np.ndarray, str] | None]]:
    """The oracle's ``d num/d den`` (cores) as (num size × den size), what it is, and a
    thunk for an independent cross-check.

    The reference's gradients are of ``L`` itself (the head, sign and reduction of
    ``step.spec`` included); its local partials are of step ``t``'s term of ``L``, which
    is ``L[t]`` times the reduction's factor (``1/T`` for a mean), divided out here."""
    t = step.t
    ref = step.reference()
    c = step.reduction_factor
    cs = lambda: (lambda J: None if J is None else (J, "complex step through step t"))(  # noqa: E731
        step.complex_step(num, den))
    if num == "L[t]" and den in _PARAMS:
        assert ref.local is not None
        G = np.asarray(ref.local[den][t]) / c
        what = f'reference(case, method="bptt").local["{den}"][{t}]'
        return G.reshape(1, -1), what + _divided(c), cs
    if num == "L" and den in _PARAMS:
        if per_step or local:
            # ∇^{(t)}_θ L, ∂L/∂θ|_t and the book's ∂L/∂θ^{(t)}: the derivative by step t's
            # copy of θ, which is step t's contribution (seed 003; DL book §10.2.2).
            assert ref.per_step is not None
            G = np.asarray(ref.per_step[den][t])
            return G.reshape(1, -1), f'reference(case, method="bptt").per_step["{den}"][{t}]', cs

        def full() -> tuple[np.ndarray, str]:
            from rnn_oracle._reference import reference

            ref_cs = reference(step.case, method="complex_step").numpy()
            return np.asarray(ref_cs.grads[den]).reshape(1, -1), 'method="complex_step"'

        return (np.asarray(ref.grads[den]).reshape(1, -1),
                f'reference(case, method="bptt").grads["{den}"]', full)
    if num == "L" and den == "L[t]":
        if c == 1:
            return np.ones((1, 1)), "∂L/∂L[t] = 1 (L = Σ_t L[t])", lambda: None
        return (np.full((1, 1), c), f"∂L/∂L[t] = 1/T = {c:g} (L = (1/T) Σ_t L[t], a mean "
                "over time)", lambda: None)
    if num == "L" and den in ("x[t]", "x[t+1]"):
        tau = t + den.endswith("[t+1]")
        if tau > step.last:
            raise NotJudgedError(f"step t+1 does not exist at the last step t={t}")
        dx = np.asarray(ref.grads["inputs"][tau])
        return dx.reshape(1, -1), f'reference(case, method="bptt").grads["inputs"][{tau}]', (
            lambda: None)
    if num == "L" and den == "o[t]":
        # o[t] = W_hy h[t] + b_y: ∂L/∂o[t] is b_y's step-t contribution. The cross-check
        # differentiates the model's head at o[t] by complex step, times ∂L/∂L[t].
        assert ref.per_step is not None
        d_o = np.asarray(ref.per_step["b_y"][t])

        def through_the_head() -> tuple[np.ndarray, str] | None:
            J = step.complex_step("L[t]", "o[t]")
            return None if J is None else (c * J, "complex step of the model's head")

        return (d_o.reshape(1, -1), f'reference(case, method="bptt").per_step["b_y"][{t}] '
                f"(∂L/∂o[t] under {step.spec.head})", through_the_head)
    if num == "L" and den in ("h[t-1]", "h[t]", "h[t+1]", "a[t]", "a[t+1]"):
        assert ref.hidden_grads is not None
        tau = t + den.endswith("[t+1]") - den.endswith("[t-1]")
        if tau > step.last:
            # L does not depend on a state after the last step: its gradient is zero.
            return np.zeros((1, step.spec.n_h)), "zero (no step after the last)", lambda: None
        if tau < 0:
            raise NotJudgedError("∂L/∂h[t-1] at t=0 is the gradient of h0: ask for grads['h0']")
        dh = np.asarray(ref.hidden_grads[tau])
        what = f'reference(case, method="bptt").hidden_grads[{tau}]'
        if den.startswith("a"):
            from rnn_oracle.model import activation_derivative

            s = step.steps[tau]
            dh = dh * activation_derivative(step.spec.cell, s["a"][:, 0], s["h"][:, 0], np)
            what += " ∘ φ'(a)"
        return dh.reshape(1, -1), what, lambda: None
    J = step.complex_step(num, den)
    if J is not None and (local or num != "L[t]"):
        return J, "complex step through one step of the model", lambda: None
    raise OracleError(
        f"the oracle has no value for d{num}/d{den}: checkable are local partials of L[t] "
        "(|_t), per-step contributions ∇^(t), full gradients, ∂L/∂h[t], ∂L/∂a[t], ∂L/∂o[t] "
        "and one-step Jacobians of a[t], h[t], o[t], ŷ[t]"
    )


def _divided(c: float) -> str:
    return "" if c == 1 else f" / (1/T = {c:g}): L[t] is the step's loss, before the mean"


def _cores(d: Derivative, notation: Notation) -> tuple[str, str]:
    canonical = notation.canonical_symbols
    num = peel(simplify(notation.to_canonical(d.num), canonical), canonical)
    den = peel(simplify(notation.to_canonical(d.den), canonical), canonical)
    if num.opaque is not None or den.opaque is not None:
        raise OracleError(
            f"the oracle checks derivatives of named quantities; {render(d, 'text')} "
            "differentiates a compound expression"
        )
    return num.core, den.core


def _core_values(
    step: _Step, d: Derivative, notation: Notation, rhs: Expr | None = None
) -> tuple[np.ndarray, str, Callable[[], Any]]:
    num, den = _cores(d, notation)
    local = d.at is not None or num == "L[t]"
    # The left side names the quantity: ∇^{(t)} (or a bar |_t, the book's copy θ^{(t)}) the
    # step-t contribution, ∂L/∂θ the total (a right side in step-t quantities is then a
    # contribution: see _named_alternative).
    return _quantity(step, num, den, local=local, per_step=d.step is not None)


def _canonical_names(notation: Notation, name: str) -> list[str]:
    if name not in notation.symbols:
        return []
    return [e.name for e in walk(notation.meaning(name)) if isinstance(e, Sym)]


def _time_vars(expr: Expr) -> list[str]:
    from conventions.formulas import IndexSum

    return [e.var for e in walk(expr) if isinstance(e, IndexSum) and e.var is not None]


def _symbol_value(step: _Step, notation: Notation, name: str) -> np.ndarray:
    meaning = notation.meaning(name)
    missing = [e.name for e in walk(meaning) if isinstance(e, Sym) and e.name not in step.values]
    if missing:
        raise NotJudgedError(
            f"{name} at step t={step.t}: {', '.join(missing)} does not exist there (the last "
            f"step is t={step.last})"
        )
    return np.asarray(evaluate(check(meaning, _C), step.values, sizes=step.sizes))


def _rhs_values(step: _Step, formula: Formula) -> dict[Any, Any]:
    """Values of the right side's symbols and derivatives at ``step.t``; those a time sum
    indexes are stacked over every step of the case (time leading)."""
    from conventions.formulas.shapes import time_var_in

    notation, rhs = formula.notation, formula.rhs
    times = _time_vars(rhs)
    stepped = lambda e: any(time_var_in(e, v) for v in times)  # noqa: E731
    views = [step.at(tau) for tau in range(step.last + 1)] if times else []
    values: dict[Any, Any] = {}
    for name in {e.name for e in walk(rhs) if isinstance(e, Sym)}:
        if stepped(Sym(name)):
            values[name] = np.stack([_symbol_value(v, notation, name) for v in views])
        else:
            values[name] = _symbol_value(step, notation, name)
    for atom in [e for e in walk(rhs) if isinstance(e, Derivative)]:
        m = derivative_map(atom, notation, formula.layout, step.sizes)
        if stepped(atom):
            values[atom] = np.stack([derivative_value(_core_values(v, atom, notation)[0], m)
                                     for v in views])
        else:
            values[atom] = derivative_value(_core_values(step, atom, notation)[0], m)
    return values


def _named_alternative(
    step: _Step, d: Derivative, notation: Notation, got: np.ndarray, layout: str, rtol: float,
) -> tuple[str, str]:
    """When the right side is another quantity than the left side names, which one (up to
    a sign and a factor ``T`` or ``1/T``): the message and the diagnosis."""
    num, den = _cores(d, notation)
    if den not in _PARAMS or num not in ("L", "L[t]"):
        return "", ""
    ref = step.reference()
    assert ref.per_step is not None and ref.local is not None
    c = step.reduction_factor
    m = derivative_map(d, notation, layout, step.sizes)
    scale = max(float(np.linalg.norm(got)), 1e-300)
    # (kind, step) of what the left side names, and of every candidate.
    named_as: tuple[str, int | None] = (
        ("local", step.t) if num == "L[t]" else
        ("contribution", step.t) if d.at is not None or d.step is not None else ("total", None))
    named = {"local": "the step-t local partial", "contribution": f"the step-{step.t} "
             "contribution", "total": "the total"}[named_as[0]]
    candidates: list[tuple[tuple[str, int | None], str, str, np.ndarray]] = [
        (("total", None), "total", f'grads["{den}"]', np.asarray(ref.grads[den]))]
    for tau in range(step.last + 1):
        candidates.append((("contribution", tau), f"contribution of step {tau}",
                           f'per_step["{den}"][{tau}]', np.asarray(ref.per_step[den][tau])))
        candidates.append((("local", tau), f"local partial of step {tau}",
                           f'local["{den}"][{tau}]{_divided(c)}',
                           np.asarray(ref.local[den][tau]) / c))
    T = step.case.seq_len
    factors = [(1.0, ""), (float(T), "T times "), (1 / T, "1/T times ")]
    for (kind, tau_), what, where, value in candidates:
        for (factor, times), sign in itertools.product(factors, (1.0, -1.0)):
            if (kind, tau_) == named_as and factor == 1.0:
                continue  # the named quantity itself, or its negation: the caller's case
            want = derivative_value(sign * factor * value.reshape(1, -1), m)
            if float(np.linalg.norm(got - want)) > rtol * scale:
                continue
            signed = "minus " if sign < 0 else ""
            out = (f"the right side is {signed}{times}the {what} (reference(case, "
                   f'method="bptt").{where}); ' + (
                       "the quantity the left side names" if (kind, tau_) == named_as
                       else f"the left side names {named}"))
            causes: list[str] = []
            labels = ["negated"] if sign < 0 else []
            if (kind, tau_) != named_as:
                if kind == "total":
                    causes.append("the left side should be the total gradient")
                    labels.append("another quantity")
                elif named_as[0] == "total":
                    causes.append("a Σₜ is missing" if kind == "contribution" else
                                  "a Σₜ and the recurrent paths are missing")
                    labels.append("missing Σ")
                else:
                    labels.append("another quantity")
            if times:
                causes.append(_factor_cause(factor, step.spec.time_reduction))
                labels.append("missing factor")
            return out + (": " + " and ".join(causes) if causes else ""), ", ".join(labels)
    return "", ""


def _factor_cause(factor: float, reduction: str) -> str:
    """Why the right side is ``factor`` (``T`` or ``1/T``) times what the left side names."""
    if factor > 1:
        why = ("the mean over time of --reduction mean" if reduction == "mean" else
               "the right side is that many times too large")
        return f"missing factor: it holds with the right side times 1/T ({why})"
    why = ("the right side takes a mean over time; the oracle's loss is summed, give "
           "--reduction mean for a mean" if reduction == "sum" else
           "the right side divides by T once too often")
    return f"missing factor: it holds with the right side times T ({why})"


def check_against_oracle(
    formula: Formula,
    *,
    t: int | None = None,
    seed: int = 0,
    cell: str | None = None,
    head: str = "softmax_ce",
    loss_sign: str = "standard",
    reduction: str = "sum",
    rtol: float = 1e-8,
) -> OracleCheck:
    """Evaluate ``formula``'s right-hand side on a real case at step ``t`` (0-based,
    default 2 of 0..3, the last included) and compare it with the quantity its left-hand
    side names.

    * ``∂L/∂θ`` and ``∇_θ L`` name the total gradient, ``∇^{(t)}_θ L`` the step-``t``
      contribution, ``∂L^{(t)}/∂θ`` (or a bar ``|_t``) the local partial of step ``t``
      (earlier states held fixed); ``∂L/∂h^{(t)}``, ``∂L/∂a^{(t)}``, ``∂L/∂o^{(t)}``,
      ``∂L/∂x^{(t)}``, ``∂L/∂L^{(t)}`` and one-step Jacobians such as
      ``∂h^{(t+1)}/∂h^{(t)}`` are checkable too.
    * A right side that equals another of these quantities fails naming it ("the
      contribution of step 2 ...; the left side names the total: a Σₜ is missing").
    * Symbols get the case's values through their meanings; derivatives inside the right
      side get the oracle's values; a time sum ``\\sum_t`` runs over every step, with the
      symbols and derivatives it indexes stacked.
    * A symbol on the left (``a^{(t)} = b + W h^{(t-1)} + U x^{(t)}``) is compared with
      the case's value of it.

    The network is an :class:`~rnn_oracle.spec.RNNSpec` (``n_x=3, n_h=4, n_y=5``, 4 steps):

    * ``cell`` is the hidden nonlinearity (default: the notation's — CS224n's RNN LM uses
      sigmoid); a converted formula keeps the cell of its source.
    * ``head`` is ``softmax_ce`` (``ŷ = softmax(o)``, ``L^{(t)} = −Σ y log ŷ``, one-hot
      ``y``) or ``linear_mse`` (``ŷ = o``, ``L^{(t)} = ½‖o − y‖²``, dense ``y``).
    * ``loss_sign`` ``negated`` flips every step's loss ``L^{(t)}`` (a log-likelihood).
    * ``reduction`` over time: ``sum`` (``L = Σ_t L^{(t)}``) or ``mean``
      (``L = (1/T) Σ_t L^{(t)}``, so ``∂L/∂L^{(t)} = 1/T``).

    The defaults are the network the oracle always checked: softmax cross-entropy, the
    standard sign, summed over time. A right side off by the reduction's ``T`` or ``1/T``
    fails with a "missing factor" diagnosis. Raises
    :class:`~rnn_oracle.errors.NotJudgedError` when the statement cannot be judged, and
    :class:`~rnn_oracle.errors.OracleError` for an unknown option value.
    """
    notation = formula.notation
    if notation.canonical is not _C and notation is not CANONICAL:
        raise NotJudgedError(
            f"notation {notation.name!r} is not an RNN notation; the oracle checks formulas "
            f"in {', '.join(NOTATIONS)}"
        )
    step = _Step(_spec(cell or CELLS.get(notation.name, "tanh"), head, loss_sign, reduction),
                 t, seed)
    d = formula.derivative
    lhs = formula.lhs
    if d is not None:
        J_core, what, cross = _core_values(step, d, notation, formula.rhs)
        m = derivative_map(d, notation, formula.layout, step.sizes)
        want = derivative_value(J_core, m)
    elif isinstance(lhs, Expr) and all(isinstance(e, Sym) or not isinstance(e, Derivative)
                                       for e in walk(lhs)) and any(
            isinstance(e, Sym) for e in walk(lhs)):
        want = np.asarray(evaluate(check(lhs, notation.symbols), {
            n: _symbol_value(step, notation, n) for n in
            {e.name for e in walk(lhs) if isinstance(e, Sym)}}, sizes=step.sizes))
        what, cross = f"the case's value of {render(lhs, 'text')}", (lambda: None)
    else:
        raise NotJudgedError("the oracle checks statements with a derivative or a quantity "
                             "of the network on the left")
    try:
        values = _rhs_values(step, formula)
    except OracleError as exc:
        if isinstance(exc, NotJudgedError):
            raise
        raise NotJudgedError(f"the right side: {exc}") from exc
    try:
        got = np.asarray(evaluate(formula.typed().args[1], values, sizes=step.sizes))
    except FormulaError as exc:
        raise NotJudgedError(f"evaluating the right-hand side: {exc}") from exc
    error = float(np.linalg.norm(got - want)) / max(float(np.linalg.norm(want)), 1e-300)
    passed = error <= rtol
    checked = ""
    extra = cross()
    if extra is not None:
        J2, how = extra
        err2 = float(np.linalg.norm(J2 - J_core)) / max(float(np.linalg.norm(J_core)), 1e-300)
        checked = f"{how} (agrees to {err2:.1e})"
        if err2 > 1e-6:
            passed = False
            checked += " — THE ORACLE DISAGREES WITH ITSELF"
    where = f"step t={step.t} of {_network(step.spec)} (n_x=3, n_h=4, n_y=5, seed {seed})"
    diagnosis = ""
    if passed:
        message = f"matches the oracle: {what} at {where}; relative error {error:.1e}"
    else:
        message = f"DOES NOT MATCH the oracle: {what} at {where}; relative error {error:.1e}"
        negated = _multiple(got, want, -1.0, rtol)
        alternative, diagnosis = ("", "") if d is None or negated else _named_alternative(
            step, d, notation, got, formula.layout, rtol)
        if alternative:
            message += f"; {alternative}"
        elif negated:
            diagnosis = "negated"
            message += (
                "; it matches the NEGATED quantity: the formula assumes the opposite loss "
                "sign (math.SE 2512465 writes CS224n's J = +Σ y log ŷ; use "
                "literal_loss=False / --loss standard for J = −Σ y log ŷ, or loss_sign="
                "'negated' / --loss-sign negated for a network whose loss is negated)"
            )
        else:
            T = step.case.seq_len
            for factor, sign in itertools.product((float(T), 1 / T), (1.0, -1.0)):
                if _multiple(got, want, sign * factor, rtol):
                    diagnosis = "missing factor" if sign > 0 else "negated, missing factor"
                    times = "T" if factor > 1 else "1/T"
                    signed = "minus " if sign < 0 else ""
                    message += (f"; the right side is {signed}{times} times it (T = {T} "
                                f"steps): {_factor_cause(factor, step.spec.time_reduction)}")
                    break
    return OracleCheck(passed, error, what, checked, message, diagnosis)


def _multiple(got: np.ndarray, want: np.ndarray, factor: float, rtol: float) -> bool:
    """Whether ``got`` is ``factor × want`` to ``rtol`` (relative to ``want``'s scale)."""
    scale = max(abs(factor) * float(np.linalg.norm(want)), 1e-300)
    return float(np.linalg.norm(got - factor * want)) <= rtol * scale


def _spec(cell: str, head: str, loss_sign: str, reduction: str) -> RNNSpec:
    """The oracle's network; option values are checked here, each error naming its option."""
    from rnn_oracle.spec import CELLS as CELL_NAMES
    from rnn_oracle.spec import LOSS_SIGNS, REDUCTIONS, check_choice

    owner = "check_against_oracle"
    check_choice("cell", cell, CELL_NAMES, owner)
    check_choice("head", head, _ORACLE_HEADS, owner)
    check_choice("loss_sign", loss_sign, LOSS_SIGNS, owner)
    check_choice("reduction", reduction, REDUCTIONS, owner)
    return RNNSpec(cell=cell, n_x=3, n_h=4, n_y=5, head=head,  # type: ignore[arg-type]
                   loss_sign=loss_sign, time_reduction=reduction)  # type: ignore[arg-type]


def _network(spec: RNNSpec) -> str:
    """The oracle's network in words, for messages."""
    sign = "" if spec.loss_sign == "standard" else "negated "
    over = "summed" if spec.time_reduction == "sum" else "averaged"
    return f"a {spec.cell} RNN with a {sign}{spec.head} loss {over} over time"


_ = re, Sym
