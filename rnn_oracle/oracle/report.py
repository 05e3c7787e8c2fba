"""What :func:`~rnn_oracle.check_gradients` returns: printable, machine-readable, plottable."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnn_oracle.errors import ExitCode
from rnn_oracle.oracle.diagnosis import Diagnosis
from rnn_oracle.spec import RNNSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rnn_oracle.architectures.spec import NetworkSpec


@dataclass(frozen=True)
class GateMap:
    """Where a failing gated parameter (``W_xh``, ``W_hh``, ``b_xh``, ``b_hh`` of a GRU or
    LSTM, or one gate's block of them) is off, gate block by gate block and step by step,
    in units of its bound (≤ 1 agrees).

    ``gate_errors`` is measured on your gradient. Your gradient is a sum over steps, so
    the steps are read from the diagnosed slip: ``steps[k, t]`` is how far that slip moves
    gate ``k``'s block of step ``t``'s contribution from the reference's (the diagnosis
    fits your gradient, so this is where your code departs); without a diagnosis that has
    steps there is no ``steps``. ``starts`` is where the disagreement starts, in the
    order the backward pass visits the steps: the latest step past the bound (the pass
    runs from the last step down), or for a backward-direction block, which reads the
    sequence reversed, the earliest."""

    gates: tuple[str, ...]
    gate_errors: np.ndarray = field(repr=False, compare=False)  #: ``(gates,)``
    steps: np.ndarray | None = field(repr=False, compare=False)  #: ``(gates, T)``
    starts: int | None
    basis: str

    @property
    def worst_gate(self) -> str:
        """The gate whose block is furthest off in your gradient."""
        return self.gates[int(np.argmax(self.gate_errors))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "gates": list(self.gates),
            "gate_errors": {g: _num(e) for g, e in zip(self.gates, self.gate_errors,
                                                         strict=True)},
            "steps": None if self.steps is None else {
                g: [_num(v) for v in row] for g, row in zip(self.gates, self.steps, strict=True)
            },
            "starts": self.starts,
            "worst_gate": self.worst_gate,
            "basis": self.basis,
        }


@dataclass(frozen=True)
class GradientResult:
    """The verdict on one gradient (a parameter, or ``inputs``/``h0`` in layer mode), from
    the case where it was furthest off. Indices are in the user's shape; steps are 0-based."""

    name: str  #: the user's name
    mapping: str  #: the canonical array it stands for (``"W_xh.T"``, ``"h0"``)
    shape: tuple[int, ...]  #: the shape the convention implies
    #: ``"ok"``, ``"wrong"``, ``"wrong shape"``, ``"non-finite"`` or ``"inconclusive"``
    verdict: str
    message: str
    seed: int | None  #: the case these numbers come from
    atol: float
    rtol: float
    max_abs_error: float | None = None
    abs_index: tuple[int, ...] | None = None
    max_rel_error: float | None = None
    rel_index: tuple[int, ...] | None = None
    worst_index: tuple[int, ...] | None = None  #: the entry furthest past its bound
    value: float | None = None  #: the user's value there
    expected: float | None = None  #: the reference's value there
    n_failed: int = 0
    step: int | None = None  #: the time step the worst entry's error comes from
    step_basis: str | None = None
    diagnosis: Diagnosis | None = None
    failing_cases: int = 0
    agreeing_cases: int = 0  #: failing cases whose diagnosis names the same cause
    cases_drawn: int = 0  #: cases drawn for this gradient (replacements included)
    cases_judged: int = 0  #: cases that could tell it from the wrong answers the oracle knows
    cases_inconclusive: int = 0  #: cases that could not (see ``inconclusive_reason``)
    cases_requested: int = 0  #: the judgements asked for (``check_gradients(cases=…)``)
    inconclusive_reason: str | None = None  #: why the last inconclusive case could not judge
    got: np.ndarray | None = field(default=None, repr=False, compare=False)
    reference: np.ndarray | None = field(default=None, repr=False, compare=False)
    step_errors: np.ndarray | None = field(default=None, repr=False, compare=False)
    gate_map: GateMap | None = None  #: a failing gated parameter's per-gate, per-step map

    @property
    def passed(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mapping": self.mapping,
            "shape": list(self.shape),
            "passed": self.passed,
            "verdict": self.verdict,
            "message": self.message,
            "seed": self.seed,
            "atol": self.atol,
            "rtol": self.rtol,
            "max_abs_error": _num(self.max_abs_error),
            "abs_index": _idx(self.abs_index),
            "max_rel_error": _num(self.max_rel_error),
            "rel_index": _idx(self.rel_index),
            "worst_index": _idx(self.worst_index),
            "value": _num(self.value),
            "expected": _num(self.expected),
            "n_failed": self.n_failed,
            "step": self.step,
            "step_basis": self.step_basis,
            "failing_cases": self.failing_cases,
            "agreeing_cases": self.agreeing_cases,
            "cases_drawn": self.cases_drawn,
            "cases_judged": self.cases_judged,
            "cases_inconclusive": self.cases_inconclusive,
            "cases_requested": self.cases_requested,
            "inconclusive_reason": self.inconclusive_reason,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "gate_map": None if self.gate_map is None else self.gate_map.to_dict(),
        }


@dataclass(frozen=True)
class LossResult:
    value: float
    expected: float
    abs_error: float
    rel_error: float
    atol: float
    rtol: float
    verdict: str  #: ``"ok"``, ``"wrong"``, ``"non-finite"`` or ``"inconclusive"``
    seed: int | None
    diagnosis: Diagnosis | None = None
    reason: str | None = None  #: why the loss could not be judged

    @property
    def passed(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _num(self.value),
            "expected": _num(self.expected),
            "abs_error": _num(self.abs_error),
            "rel_error": _num(self.rel_error),
            "atol": self.atol,
            "rtol": self.rtol,
            "passed": self.passed,
            "verdict": self.verdict,
            "seed": self.seed,
            "reason": self.reason,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
        }


@dataclass(frozen=True)
class StepResult:
    """Layer mode: how far ``∂J/∂x_t`` is past its bound at step ``t`` (≤ 1 agrees)."""

    t: int
    ratio: float
    passed: bool


@dataclass(frozen=True)
class CaseInfo:
    seed: int
    seq_len: int
    batch: int | None
    scale: float
    passed: bool  #: nothing judged wrong on this case
    coherent: bool = False  #: its targets (or upstream gradients) are the same at every step
    judged: int = 0  #: gradients this case could judge
    inconclusive: int = 0  #: gradients it could not
    reason: str | None = None  #: why not (the first reason), or why it was not judged at all


@dataclass(frozen=True)
class GradientReport:
    """The oracle's answer. ``passed`` is True only when every gradient (and, in model
    mode, the loss) was judged on at least one case that could tell it from a wrong
    answer, and agrees on every case that judged it; :attr:`verdict` tells a wrong answer
    from an inconclusive one."""

    passed: bool
    target: str
    convention: str
    mode: str
    dtype: str
    spec: RNNSpec | NetworkSpec
    cases: tuple[CaseInfo, ...]
    gradients: tuple[GradientResult, ...]
    loss: LossResult | None
    steps: tuple[StepResult, ...] | None  #: layer mode, from the worst case for ``inputs``
    disagreement_starts: int | None  #: latest step where ∂J/∂x_t disagrees (backward order)
    summary: str
    overrides: dict[str, float] = field(default_factory=dict)  #: user-given atol / rtol
    notes: tuple[str, ...] = ()  #: what was accepted that the user should know of

    @property
    def failures(self) -> tuple[GradientResult, ...]:
        """The gradients judged wrong (not those left inconclusive)."""
        return tuple(g for g in self.gradients if not g.passed and g.verdict != "inconclusive")

    @property
    def inconclusive(self) -> tuple[GradientResult, ...]:
        """The gradients no case could judge: never counted as right."""
        return tuple(g for g in self.gradients if g.verdict == "inconclusive")

    @property
    def verdict(self) -> str:
        """``"right"`` (every value judged and right), ``"wrong"`` (something judged wrong)
        or ``"inconclusive"`` (nothing wrong, but something could not be judged)."""
        loss = None if self.loss is None else self.loss.verdict
        if self.failures or loss not in (None, "ok", "inconclusive"):
            return "wrong"
        return "inconclusive" if self.inconclusive or loss == "inconclusive" else "right"

    @property
    def exit_code(self) -> ExitCode:
        """0 right, 1 wrong, 3 inconclusive (:class:`~rnn_oracle.errors.ExitCode`)."""
        return {"right": ExitCode.RIGHT, "wrong": ExitCode.WRONG}.get(
            self.verdict, ExitCode.NOT_JUDGED
        )

    def __getitem__(self, name: str) -> GradientResult:
        for g in self.gradients:
            if g.name == name:
                return g
        raise KeyError(f"no gradient {name!r}; checked {[g.name for g in self.gradients]}")

    @property
    def causes(self) -> dict[str, str]:
        """Failing gradient name -> diagnosis identifier."""
        return {
            g.name: (g.diagnosis.cause if g.diagnosis else g.verdict) for g in self.failures
        }

    # -- machine-readable ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "exit_code": int(self.exit_code),
            "summary": self.summary,
            "target": self.target,
            "convention": self.convention,
            "mode": self.mode,
            "dtype": self.dtype,
            "spec": self.spec.to_dict(),
            "cases": [c.__dict__ for c in self.cases],
            "gradients": [g.to_dict() for g in self.gradients],
            "loss": None if self.loss is None else self.loss.to_dict(),
            "steps": None
            if self.steps is None
            else [{"t": s.t, "ratio": _num(s.ratio), "passed": s.passed} for s in self.steps],
            "disagreement_starts": self.disagreement_starts,
            "causes": self.causes,
            "overrides": dict(self.overrides),
            "notes": list(self.notes),
            "cases_drawn": len(self.cases),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # -- printable ----------------------------------------------------------------------------
    def __rich__(self) -> Any:
        from rnn_oracle.oracle.render import render

        return render(self)

    def print(self, console: Any = None) -> None:
        """Print the report with rich (colours where the terminal has them)."""
        from rich.console import Console

        (console or Console()).print(self)

    def __str__(self) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, width=120, no_color=True, color_system=None).print(self)
        return buffer.getvalue()

    def plot(self, path: str | None = None) -> Figure:
        """Heat maps (reference, user, error) and the per-step error curve of every
        gradient; written to ``path`` when given. Needs matplotlib."""
        from rnn_oracle.oracle.plot import plot_report

        return plot_report(self, path)


def _num(value: float | None) -> float | str | None:
    """JSON has no infinity or NaN: those become strings."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else str(value)


def _idx(index: tuple[int, ...] | None) -> list[int] | None:
    return None if index is None else [int(i) for i in index]


def summary(
    passed: bool, gradients: list[GradientResult], loss: LossResult | None, n_cases: int
) -> str:
    if passed:
        judged = min(g.cases_judged for g in gradients) if gradients else 0
        return (
            f"PASS: all {len(gradients)} gradients agree with the reference on every case "
            f"that could judge them (at least {judged} each; {n_cases} case(s) drawn)"
        )
    bad = [g for g in gradients if not g.passed and g.verdict != "inconclusive"]
    open_ = [g for g in gradients if g.verdict == "inconclusive"]
    if not bad and (loss is None or loss.verdict in ("ok", "inconclusive")):
        parts = [f"{g.name} ({g.inconclusive_reason})" for g in open_]
        if loss is not None and loss.verdict == "inconclusive":
            parts.append(f"the loss ({loss.reason})")
        return (
            f"INCONCLUSIVE: nothing is wrong, but on none of {n_cases} case(s) drawn could "
            f"these be judged: {'; '.join(parts)}."
        )
    parts = [
        f"{g.name} ({g.diagnosis.cause if g.diagnosis else g.verdict})" for g in bad
    ]
    text = f"FAIL: {len(bad)} of {len(gradients)} gradients wrong: {', '.join(parts)}"
    causes = [g.diagnosis.cause for g in bad if g.diagnosis and g.diagnosis.cause != "unknown"]
    if causes:
        top = max(set(causes), key=causes.count)
        example = next(g for g in bad if g.diagnosis and g.diagnosis.cause == top)
        assert example.diagnosis is not None
        text += f". Most likely: {top} — {example.diagnosis.detail}; {example.diagnosis.hint}"
    if loss is not None and loss.verdict not in ("ok", "inconclusive"):
        text += f". The loss is wrong too ({loss.verdict}"
        text += f": {loss.diagnosis.cause})" if loss.diagnosis else ")"
    if open_:
        text += f". Not judged (inconclusive): {', '.join(g.name for g in open_)}"
    return text + "."
