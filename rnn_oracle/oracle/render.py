"""A :class:`GradientReport` as rich text: a header, one table row per gradient, the
diagnosis of each failure with its evidence, and (layer mode) the per-step breakdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rnn_oracle.oracle.report import GradientReport, GradientResult


def _index(index: tuple[int, ...] | None) -> str:
    return "" if index is None else "[" + ", ".join(map(str, index)) + "]"


def _error(value: float | None, index: tuple[int, ...] | None) -> str:
    return "" if value is None else f"{value:.2e} {_index(index)}"


def _diagnosis(g: GradientResult) -> str:
    if g.passed:
        return ""
    if g.diagnosis is None:
        return g.verdict
    d = g.diagnosis
    extra = ", ".join(f"{k}={v}" for k, v in d.params.items() if k != "factor_value")
    cause = d.cause + (f" ({extra})" if extra else "")
    if d.confidence == "approximate":
        cause += " ~"
    return cause


def render(report: GradientReport) -> Any:
    status = Text("PASS", style="bold green") if report.passed else Text("FAIL", style="bold red")
    seeds = ", ".join(str(c.seed) for c in report.cases)
    header = Text.assemble(
        "rnn-oracle ", status, f" — {report.target}: convention {report.convention!r}, "
        f"{report.mode} mode, {report.dtype}, {len(report.cases)} case(s) (seeds {seeds}; "
        f"T = {', '.join(str(c.seq_len) for c in report.cases)}; "
        f"batch {report.cases[0].batch if report.cases else None}), cell {report.spec.cell}"
    )
    table = Table(show_lines=False, header_style="bold")
    for column in ("gradient", "is", "verdict", "worst abs error [index]",
                   "worst rel error [index]", "bound (abs)", "step", "diagnosis"):
        table.add_column(column)
    for g in report.gradients:
        table.add_row(
            g.name,
            g.mapping,
            Text(g.verdict, style="green" if g.passed else "red"),
            _error(g.max_abs_error, g.abs_index),
            _error(g.max_rel_error, g.rel_index),
            f"{g.atol:.1e}",
            "" if g.step is None or g.passed else str(g.step),
            _diagnosis(g),
        )
    if report.loss is not None:
        loss = report.loss
        table.add_row(
            "loss", "J", Text(loss.verdict, style="green" if loss.passed else "red"),
            f"{loss.abs_error:.2e}", f"{loss.rel_error:.2e}", f"{loss.atol:.1e}", "",
            "" if loss.diagnosis is None else loss.diagnosis.cause,
        )
    parts: list[Any] = [header, table]
    for g in report.failures:
        parts.append(Text(f"{g.name} ({g.mapping}): {g.message}", style="bold"))
        if g.diagnosis is not None:
            d = g.diagnosis
            parts.append(Text(f"  diagnosis: {d.cause} — {d.detail} [{d.confidence}]"))
            parts.append(Text(f"  evidence: {d.evidence}"
                              + (f"; same cause in {g.agreeing_cases} of {g.failing_cases} "
                                 "failing case(s)" if g.failing_cases else "")))
            if d.cause == "unknown" and d.alternatives:
                alts = "; ".join(f"{c}: {det} ({r:.2g})" for c, det, r in d.alternatives)
                parts.append(Text(f"  nearest hypotheses: {alts}"))
            parts.append(Text(f"  hint: {d.hint}", style="italic"))
    if report.loss is not None and not report.loss.passed:
        loss = report.loss
        parts.append(Text(
            f"loss: got {loss.value:.10g}, expected {loss.expected:.10g}"
            + ("" if loss.diagnosis is None else f"; {loss.diagnosis.cause}: "
               f"{loss.diagnosis.detail}"),
            style="bold",
        ))
    if report.steps is not None and not report.passed:
        marks = " ".join(f"{s.t}:{'ok' if s.passed else 'X'}" for s in report.steps)
        parts.append(Text(f"per step (∂J/∂x_t, worst case): {marks}"))
        if report.disagreement_starts is not None:
            parts.append(Text(
                f"disagreement starts at step {report.disagreement_starts} (the backward pass "
                "runs from the last step down; later steps agree)"
            ))
    parts.append(Text(report.summary, style="bold"))
    return Group(*parts)
