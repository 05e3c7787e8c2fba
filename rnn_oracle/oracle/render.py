"""Rich rendering for people: a :class:`GradientReport` (a header, one table row per
gradient, the diagnosis of each failure with its evidence, the per-step breakdown) and the
two verify matrices, all in one table style.

Nothing is ever cut: every column folds instead of ending in ``…``, and output that is not
a terminal (a pipe, a CI log, ``str(report)``) is laid out :data:`PIPE_WIDTH` columns wide
instead of rich's default of 80.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rnn_oracle._verify import Row, VerifyReport
    from rnn_oracle.architectures.verify import ArchitecturesReport
    from rnn_oracle.oracle.report import GateMap, GradientReport, GradientResult

#: The width of output that is not a terminal: wide enough that the tables never fold.
PIPE_WIDTH = 200

#: How each verdict reads in a header or a verify summary, and its colour.
STATUS: dict[str, tuple[str, str]] = {
    "right": ("PASS", "bold green"),
    "wrong": ("FAIL", "bold red"),
    "inconclusive": ("INCONCLUSIVE", "bold yellow"),
}


# -- the one style ------------------------------------------------------------------------------
def new_table(*columns: str) -> Table:
    """A table in the house style: a bold header over a rule, no side borders (so a row
    starts with its first cell and ``grep``/``split`` work on piped output), and columns
    that fold long values instead of truncating them."""
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def console(file: IO[str] | None = None) -> Console:
    """A console for ``file`` (default: stdout): the terminal's width and colours on a
    terminal, :data:`PIPE_WIDTH` columns and no colour anywhere else."""
    target = file if file is not None else sys.stdout
    probe = Console(file=target)
    if probe.is_terminal:
        return probe
    return Console(file=target, width=PIPE_WIDTH, no_color=True, color_system=None)


def emit(renderable: Any, file: IO[str] | None = None) -> None:
    """Print ``renderable`` to ``file`` (default: stdout) through :func:`console`. Off a
    terminal, lines of text are not wrapped at all (a log line is one line, whole); tables
    keep :data:`PIPE_WIDTH` and fold rather than truncate."""
    out = console(file)
    out.print(renderable, soft_wrap=not out.is_terminal)


@contextmanager
def progress(
    description: str, *, quiet: bool = False, console: Console | None = None
) -> Iterator[Callable[[int, int, str], None]]:
    """A progress display on stderr while the block runs; yields ``update(done, total,
    label)`` (the :data:`rnn_oracle._verify.Progress` protocol). Until the first update it
    pulses with the elapsed time, so a run that cannot count its steps still shows it is
    alive. Nothing is shown with ``quiet`` or when stderr is not a terminal, and the display
    is removed when the block ends: stdout stays the report alone."""
    err = console if console is not None else Console(stderr=True)
    if quiet or not err.is_terminal:
        yield _ignore
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[label]}"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=None, label="")

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, label=label)

        yield update


def _ignore(done: int, total: int, label: str) -> None:
    """The progress callback of a run nobody watches."""


def to_text(renderable: Any, width: int = PIPE_WIDTH) -> str:
    """``renderable`` as plain text: tables ``width`` columns wide, lines of text whole,
    trailing spaces removed."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, color_system=None).print(
        renderable, soft_wrap=True
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


# -- a gradient report --------------------------------------------------------------------------
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


def causes_line(report: GradientReport) -> str:
    """What is wrong, in one line: ``"W_hh: transposed; b_h: local_only"`` — every gradient
    judged wrong with its diagnosis, then the loss, then what could not be judged."""
    parts = [f"{name}: {cause}" for name, cause in report.causes.items()]
    loss = report.loss
    if loss is not None and not loss.passed:
        parts.append(f"loss: {loss.diagnosis.cause if loss.diagnosis else loss.verdict}")
    parts.extend(f"{g.name}: inconclusive" for g in report.inconclusive)
    return "; ".join(parts)


def _seeds(report: GradientReport) -> str:
    return ", ".join(str(c.seed) for c in report.cases)


def _tolerances(report: GradientReport) -> str:
    """The user's ``atol``/``rtol`` overrides, as the report records them."""
    given = [f"{name} = {value:g}" for name, value in report.overrides.items()]
    return f"; {', '.join(given)} (given)" if given else ""


def _judged(g: GradientResult) -> str:
    """How many cases judged the gradient, of how many drawn for it."""
    if not g.cases_drawn:
        return ""
    return f"{g.cases_judged}/{g.cases_drawn}"


def render(report: GradientReport) -> Any:
    """The rich renderable behind ``GradientReport.print`` and ``str(report)``.

    Its first line is the verdict and, when something is wrong, what (the same line opens
    the message of :class:`~rnn_oracle.GradientMismatch`, so pytest's summary names the
    causes)."""
    label, style = STATUS.get(report.verdict, STATUS["wrong"])
    causes = causes_line(report)
    first = Text.assemble("rnn-oracle ", (label, style), f": {causes}" if causes else "")
    context = Text(
        f"{report.target}: convention {report.convention!r}, {report.mode} mode, "
        f"{report.dtype}, {len(report.cases)} case(s) (seeds {_seeds(report)}; "
        f"T = {', '.join(str(c.seq_len) for c in report.cases)}; "
        f"batch {report.cases[0].batch if report.cases else None}), cell {report.spec.cell}"
        f"{_tolerances(report)}"
    )
    table = new_table("gradient", "is", "verdict", "judged/drawn", "worst abs error [index]",
                      "worst rel error [index]", "bound (abs)", "step", "diagnosis")
    for g in report.gradients:
        table.add_row(
            g.name,
            g.mapping,
            Text(g.verdict, style=_verdict_style(g.verdict)),
            _judged(g),
            _error(g.max_abs_error, g.abs_index),
            _error(g.max_rel_error, g.rel_index),
            f"{g.atol:.1e}",
            "" if g.step is None or g.passed else str(g.step),
            _diagnosis(g),
        )
    if report.loss is not None:
        loss = report.loss
        table.add_row(
            "loss", "J", Text(loss.verdict, style=_verdict_style(loss.verdict)), "",
            f"{loss.abs_error:.2e}", f"{loss.rel_error:.2e}", f"{loss.atol:.1e}", "",
            "" if loss.diagnosis is None else loss.diagnosis.cause,
        )
    parts: list[Any] = [first, context, table]
    parts.extend(Text(f"note: {note}", style="italic") for note in report.notes)
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
        if g.gate_map is not None:
            parts.extend(Text(f"  {line}") for line in gate_map_lines(g.gate_map))
    for g in report.inconclusive:
        why = g.inconclusive_reason or g.message
        parts.append(Text(
            f"{g.name} ({g.mapping}): inconclusive — no case of {g.cases_drawn} drawn could "
            f"tell it from a wrong answer: {why}", style="yellow",
        ))
    if report.loss is not None and report.loss.verdict == "inconclusive":
        parts.append(Text(f"loss: inconclusive — {report.loss.reason}", style="yellow"))
    if report.loss is not None and report.loss.verdict not in ("ok", "inconclusive"):
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


def gate_map_lines(m: GateMap) -> list[str]:
    """A gate map in words: each gate block's error (yours), the steps where each gate is
    past its bound (the diagnosed slip's), and where that starts."""
    errors = ", ".join(f"{gate} {e:.2g}" for gate, e in zip(m.gates, m.gate_errors, strict=True))
    lines = [f"per gate (your max |error| / bound in each block): {errors}; worst {m.worst_gate}"]
    if m.steps is not None:
        rows = "; ".join(f"{gate}: {_ranges(np.flatnonzero(row > 1.0))}"
                         for gate, row in zip(m.gates, m.steps, strict=True))
        lines.append(f"per gate and step (steps past the bound, from the diagnosed slip): {rows}")
        if m.starts is not None:
            lines.append(f"the disagreement starts at step {m.starts} (where this block's "
                         "backward pass first departs)")
    return lines


def _ranges(steps: Any) -> str:
    """``[0, 1, 2, 5]`` -> ``"0–2, 5"``; none -> ``"none"``."""
    if not len(steps):
        return "none"
    out, start, prev = [], int(steps[0]), int(steps[0])
    for t in (int(t) for t in steps[1:]):
        if t != prev + 1:
            out.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = t
        prev = t
    out.append(f"{start}" if start == prev else f"{start}–{prev}")
    return ", ".join(out)


def _verdict_style(verdict: str) -> str:
    if verdict == "ok":
        return "green"
    return "yellow" if verdict == "inconclusive" else "red"


# -- the verify matrices ------------------------------------------------------------------------
#: A status longer than this is shown as a numbered footnote under the table.
STATUS_WIDTH = 24


def _verify_verdict(verdict: str, reasons: tuple[str, ...]) -> Text:
    if verdict == "right":
        return Text("ALL AGREE", style="bold green")
    if verdict == "wrong":
        return Text("DISAGREEMENT", style="bold red")
    return Text("NOT JUDGED: " + "; ".join(reasons), style="bold yellow")


def _status_style(status: str) -> str:
    if status.startswith("skipped"):
        return "yellow"
    return "dim" if status.startswith(("n/a", "baseline")) else ""


def _matrix_cell(r: Row, footnotes: dict[str, int]) -> Text:
    if r.status.startswith("error"):
        return Text("FAIL (error)", style="bold red")
    if not r.cells:
        # The install hint is printed once under the table, not in every cell.
        short = r.status.split(" (", 1)[0]
        if len(short) > STATUS_WIDTH:
            number = footnotes.setdefault(r.status, len(footnotes) + 1)
            short = f"{short.split(':', 1)[0]} [{number}]"
        return Text(short, style=_status_style(r.status))
    if r.passed:
        return Text(f"{r.worst:.1e} ok", style="green")
    return Text(f"{r.worst:.1e} FAIL", style="bold red")


def _failure_lines(rows: Any, prefix: str = "", at_case: bool = True) -> list[Text]:
    out = []
    for r in rows:
        if r.passed:
            continue
        c = r.worst_cell
        if c is None:
            out.append(Text(f"FAIL {prefix}{r.method} on {r.backend}: {r.status}", style="red"))
        else:
            where = f" in case {c.case}" if at_case else ""
            out.append(Text(
                f"FAIL {prefix}{r.method} on {r.backend}: {c.name} error {c.error:.2e} > "
                f"{c.tolerance:.1e}{where} at {c.index}: {c.value!r} vs {c.expected!r}",
                style="red",
            ))
    return out


def _skip_lines(rows: Any) -> list[Text]:
    hints = dict.fromkeys(
        f"{r.backend}: {r.status}" for r in rows if r.status.startswith("skipped")
    )
    return [Text(h, style="yellow") for h in hints]


def verify_matrix(report: VerifyReport) -> tuple[Table, list[Text]]:
    """The variant × backend table and its footnotes (long statuses, numbered)."""
    table = new_table("variant", *report.backends())
    footnotes: dict[str, int] = {}
    for method in report.methods():
        cells: list[Any] = [method]
        for backend in report.backends():
            r = report.row(method, backend)
            cells.append("" if r is None else _matrix_cell(r, footnotes))
        table.add_row(*cells)
    return table, [Text(f"[{k}] {status}", style="dim") for status, k in footnotes.items()]


def render_verify(report: VerifyReport, detail: bool = False) -> Any:
    """The matrix (rows: variants, columns: backends, cells: the worst error over every
    array, ``ok`` or ``FAIL``); ``detail`` adds one row per variant and backend with a
    column per array; then the failures, the skipped backends and the verdict."""
    table, footnotes = verify_matrix(report)
    parts: list[Any] = [table]
    if detail:
        parts.extend([Text(""), _detail_table(report)])
    parts.append(Text(""))
    b_method, b_backend = report.baseline
    parts.append(Text(
        f"worst error relative to the term scale, against {b_method} on {b_backend} over "
        f"{len(report.cases)} case(s), {report.dtype}"
    ))
    parts.extend(footnotes)
    parts.extend(_failure_lines(report.rows))
    parts.extend(_skip_lines(report.rows))
    parts.extend(Text(n) for n in report.notes)
    parts.append(_verify_verdict(report.verdict, report.not_judged))
    return Group(*parts)


def _detail_table(report: VerifyReport) -> Table:
    table = new_table("variant", "backend", *report.names)
    for r in report.rows:
        if not r.cells:
            continue
        by_name = {c.name: c for c in r.cells}
        table.add_row(r.method, r.backend, *(_detail_cell(by_name.get(n)) for n in report.names))
    return table


def _detail_cell(c: Any) -> Text | str:
    if c is None:
        return "-"
    if c.passed:
        return Text(f"{c.error:.1e}", style="green")
    return Text(f"{c.error:.1e}!", style="bold red")


def _summary_cell(summary: dict[str, Any]) -> Text:
    if summary["status"] != "ran":
        status: str = summary["status"]
        return Text(status.split(" (", 1)[0], style=_status_style(status))
    ran = len(summary["ran"])
    if summary["failed"]:
        return Text(f"FAIL: {', '.join(summary['failed'])}", style="bold red")
    if not ran:
        return Text("n/a", style="dim")
    worst = summary["worst_exact_error"]
    error = "-" if worst is None else f"{worst:.0e}"
    return Text(f"ok {error} ({ran})", style="green")


def render_architectures(report: ArchitecturesReport, detail: bool = False) -> Any:
    """One row per entry, one column per backend (``ok`` or ``FAIL`` over every method that
    ran there, the worst error of the exact methods, how many methods ran); ``detail`` adds
    each entry's method × backend matrix."""
    backends = report.backends()
    table = new_table("architecture", "cell", "head", *backends)
    previous = None
    for e in report.entries:
        arch: str = e.spec.architecture
        name: str = arch if arch != previous else ""
        if e.spec.layers > 1:
            name = name and f"{arch} ×{e.spec.layers}"
        previous = arch
        table.add_row(name, e.key, e.spec.head,
                      *(_summary_cell(e.backend_summary(b)) for b in backends))
    parts: list[Any] = [table, Text(""), Text(
        f"cell: agreement of every method that ran on that backend with "
        f"{report.baseline[0]} on {report.baseline[1]} (worst normwise error of the exact "
        f"methods; methods that ran), {report.dtype}, "
        f"{len(report.entries)} networks × {len(report.methods())} methods"
    )]
    parts.extend(Text(line, style="dim") for line in report.not_applicable())
    for e in report.entries:
        parts.extend(_failure_lines(e.report.rows, prefix=f"{e.spec.label}: ", at_case=False))
    parts.extend(_skip_lines([r for e in report.entries for r in e.report.rows]))
    if detail:
        for e in report.entries:
            matrix, footnotes = verify_matrix(e.report)
            parts.append(Text(""))
            parts.append(Text(f"== {e.spec.label} (head {e.spec.head}) ==", style="bold"))
            parts.append(matrix)
            parts.extend(footnotes)
    parts.append(_verify_verdict(report.verdict, report.not_judged))
    return Group(*parts)
