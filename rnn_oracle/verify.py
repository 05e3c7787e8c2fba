"""The cross-check matrix behind ``rnn-oracle verify``.

Every method that can run on a backend computes the gradient of the same cases, and
each is compared, array by array, with the NumPy complex-step baseline (exact to
rounding, and independent of every hand derivation). Rows are (method, backend) pairs,
so later backends and derivations add rows without changing the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends import available_backends, declared_capabilities, install_hint, known_backends
from rnn_oracle.case import Case, make_case
from rnn_oracle.compare import FD_ESTIMATE_FACTOR, discrepancy, term_scales, tolerance
from rnn_oracle.derivations import METHODS
from rnn_oracle.reference import reference
from rnn_oracle.spec import RNNSpec

BASELINE = ("complex_step", "numpy")


def default_specs(n_x: int = 3, n_h: int = 5, n_y: int = 3) -> list[RNNSpec]:
    """A spread of specs: every cell, head, loss sign, reduction and input kind appears."""
    return [
        RNNSpec(cell="tanh", n_x=n_x, n_h=n_h, n_y=n_y),
        RNNSpec(cell="sigmoid", n_x=n_x, n_h=n_h, n_y=n_y, loss_sign="negated",
                inputs="one_hot", initial_state="zero"),
        RNNSpec(cell="relu", n_x=n_x, n_h=n_h, n_y=n_y, head="linear_mse",
                time_reduction="mean", batch_reduction="mean"),
        RNNSpec(cell="identity", n_x=n_x, n_h=n_h, n_y=n_y, head="none", inputs="indices"),
    ]


@dataclass(frozen=True)
class Cell:
    """One (method, backend, array) entry: the worst result over all cases."""

    method: str
    backend: str
    name: str
    error: float  #: worst ``max |a − b|`` over the term scale (compare.term_scales)
    tolerance: float  #: the bound it was held to (see ``criterion``)
    passed: bool
    case: int  #: which case gave the worst error
    index: tuple[int, ...]
    value: float
    expected: float
    criterion: str  #: how ``passed`` was decided


@dataclass(frozen=True)
class Row:
    method: str
    backend: str
    #: ``ran``, ``baseline``, ``n/a: <why>``, ``skipped: <why>``, or ``error: <what>`` (the
    #: method raised: a disagreement)
    status: str
    cells: tuple[Cell, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.status.startswith("error") and all(c.passed for c in self.cells)

    @property
    def worst(self) -> float:
        return max((c.error for c in self.cells), default=0.0)

    @property
    def worst_cell(self) -> Cell | None:
        """The failing cell with the largest error, else the cell with the largest error."""
        if not self.cells:
            return None
        return max(self.cells, key=lambda c: (not c.passed, c.error))


@dataclass(frozen=True)
class VerifyReport:
    rows: tuple[Row, ...]
    names: tuple[str, ...]  #: the column order
    cases: tuple[dict[str, Any], ...]
    dtype: str
    baseline: tuple[str, str] = BASELINE
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def backends(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.backend for r in self.rows))

    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.method for r in self.rows))

    def row(self, method: str, backend: str) -> Row | None:
        return next((r for r in self.rows if (r.method, r.backend) == (method, backend)), None)

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report: ``matrix[variant][backend]`` plus every array's cell."""
        return {
            "passed": self.passed,
            "dtype": self.dtype,
            "baseline": {"method": self.baseline[0], "backend": self.baseline[1]},
            "cases": list(self.cases),
            "matrix": {
                m: {
                    r.backend: {
                        "status": r.status,
                        "passed": r.passed,
                        "worst_error": r.worst if r.cells else None,
                        "worst_array": r.worst_cell.name if r.worst_cell else None,
                    }
                    for r in self.rows
                    if r.method == m
                }
                for m in self.methods()
            },
            "rows": [
                {
                    "method": r.method,
                    "backend": r.backend,
                    "status": r.status,
                    "passed": r.passed,
                    "worst_error": r.worst,
                    "cells": {
                        c.name: {
                            "error": c.error,
                            "tolerance": c.tolerance,
                            "criterion": c.criterion,
                            "passed": c.passed,
                            "case": c.case,
                            "index": list(c.index),
                            "value": c.value,
                            "expected": c.expected,
                        }
                        for c in r.cells
                    },
                }
                for r in self.rows
            ],
        }

    def format_table(self, detail: bool = False) -> str:
        """The matrix (rows: variants, columns: backends, cells: the worst normwise relative
        error over every array, ``ok`` or ``FAIL``); ``detail`` adds one row per variant and
        backend with a column per array."""
        lines = [["variant", *self.backends()]]
        footnotes: dict[str, int] = {}
        for method in self.methods():
            line = [method]
            for backend in self.backends():
                r = self.row(method, backend)
                line.append("" if r is None else _matrix_cell(r, footnotes))
            lines.append(line)
        out = _align(lines)
        if detail:
            out.append("")
            out.extend(self._detail_lines())
        b_method, b_backend = self.baseline
        out.append("")
        out.append(
            f"worst error relative to the term scale, against {b_method} on {b_backend} over "
            f"{len(self.cases)} case(s), {self.dtype}"
        )
        out.extend(f"[{k}] {status}" for status, k in footnotes.items())
        for r in self.rows:
            if r.passed:
                continue
            c = r.worst_cell
            if c is None:
                out.append(f"FAIL {r.method} on {r.backend}: {r.status}")
            else:
                out.append(
                    f"FAIL {r.method} on {r.backend}: {c.name} error {c.error:.2e} > "
                    f"{c.tolerance:.1e} in case {c.case} at {c.index}: {c.value!r} vs "
                    f"{c.expected!r}"
                )
        hints = dict.fromkeys(
            f"{r.backend}: {r.status}" for r in self.rows if r.status.startswith("skipped")
        )
        out.extend(hints)
        out.extend(self.notes)
        out.append("ALL AGREE" if self.passed else "DISAGREEMENT")
        return "\n".join(out)

    def _detail_lines(self) -> list[str]:
        lines = [["variant", "backend", *self.names]]
        for r in self.rows:
            if not r.cells:
                continue
            by_name = {c.name: c for c in r.cells}
            lines.append([
                r.method,
                r.backend,
                *(
                    f"{by_name[n].error:.1e}{'' if by_name[n].passed else '!'}"
                    if n in by_name else "-"
                    for n in self.names
                ),
            ])
        return _align(lines)


#: A status longer than this is shown as a numbered footnote under the table.
STATUS_WIDTH = 24


def _matrix_cell(r: Row, footnotes: dict[str, int] | None = None) -> str:
    if r.status.startswith("error"):
        return "FAIL (error)"
    if not r.cells:
        # The install hint is printed once under the table, not in every cell.
        short = r.status.split(" (", 1)[0]
        if footnotes is None or len(short) <= STATUS_WIDTH:
            return short
        number = footnotes.setdefault(r.status, len(footnotes) + 1)
        return f"{short.split(':', 1)[0]} [{number}]"
    return f"{r.worst:.1e} {'ok' if r.passed else 'FAIL'}"


def _align(lines: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in lines
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def verify(
    specs: Sequence[RNNSpec] | None = None,
    *,
    seq_len: int = 4,
    batch: int | None = 2,
    seeds: Iterable[int] = (0,),
    dtype: str = "float64",
    methods: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
) -> VerifyReport:
    """Run every requested method on every requested backend over the cases
    ``specs × seeds`` and compare each with the baseline."""
    specs = list(specs) if specs is not None else default_specs()
    cases: list[Case] = [
        make_case(spec, seq_len, batch, seed=seed, dtype=dtype)
        for spec in specs
        for seed in seeds
    ]
    # The baseline sees exactly the same numbers, promoted to float64.
    baselines = [
        reference(c.astype("float64"), backend=BASELINE[1], method=BASELINE[0]).numpy()
        for c in cases
    ]
    methods = list(methods) if methods is not None else list(METHODS)
    backends = list(backends) if backends is not None else list(known_backends())
    installed = set(available_backends())
    names = tuple(dict.fromkeys(n for c in cases for n in c.input_names))

    rows = []
    for method in methods:
        for backend_name in backends:
            gated = gate_row(method, backend_name, METHODS[method][1], installed)
            rows.append(
                gated if gated is not None
                else _run_row(method, backend_name, cases, baselines, names, dtype)
            )
    return VerifyReport(
        rows=tuple(rows),
        names=names,
        cases=tuple(
            {"spec": c.spec.to_dict(), "seq_len": c.seq_len, "batch": c.batch, "seed": c.seed}
            for c in cases
        ),
        dtype=dtype,
    )


def gate_row(
    method: str, backend: str, capability: str | None, installed: set[str]
) -> Row | None:
    """The row of a method and backend that does not run (the baseline itself, a
    capability the backend lacks, a backend not installed), else None."""
    if (method, backend) == BASELINE:
        return Row(method, backend, "baseline")
    if capability and capability not in declared_capabilities(backend):
        return Row(method, backend, f"n/a: needs {capability}")
    if backend not in installed:
        return Row(method, backend, f"skipped: not installed ({install_hint(backend)})")
    return None


def _run_row(
    method: str,
    backend: str,
    cases: Sequence[Case],
    baselines: Sequence[Any],
    names: Sequence[str],
    dtype: str,
) -> Row:
    worst: dict[str, Cell] = {}
    for k, (case, base) in enumerate(zip(cases, baselines, strict=True)):
        result = reference(case, backend=backend, method=method).numpy()
        # Errors are measured against the size of the terms each gradient sums: what
        # rounding can do to a correct result (see compare.tolerance).
        scales = term_scales(case)
        for name in case.input_names:
            cell = compare_cell(
                method, backend, name, result.grads[name], base.grads[name],
                estimate=None if result.error is None else result.error[name],
                scale=scales[name], tol=tolerance(dtype, case.seq_len), case=k,
                criterion="max error / term scale <= tolerance",
            )
            keep_worst(worst, cell)
    ordered = tuple(worst[n] for n in names if n in worst)
    return Row(method, backend, "ran", ordered)


def compare_cell(
    method: str,
    backend: str,
    name: str,
    actual: Any,
    expected: Any,
    *,
    estimate: Any | None,
    scale: float,
    tol: float,
    case: int,
    criterion: str,
) -> Cell:
    """One array of one method against the baseline.

    With an error ``estimate`` (finite differences) every entry must lie within
    :data:`~rnn_oracle.compare.FD_ESTIMATE_FACTOR` times its own estimate; otherwise the
    normwise error (relative to ``max(max |a|, max |b|, scale)``) must be at most ``tol``,
    and ``criterion`` says what that means.
    """
    d = discrepancy(actual, expected, scale=scale)
    if estimate is not None:
        # Finite differences: every entry within a multiple of its own estimate.
        err = np.asarray(estimate, dtype=np.float64)
        diff = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
        passed = bool(np.all(diff <= FD_ESTIMATE_FACTOR * err))
        size = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
        tol = FD_ESTIMATE_FACTOR * float(np.max(err, initial=0.0)) / (size or 1.0)
        criterion = f"every entry within {FD_ESTIMATE_FACTOR:g}x its error estimate"
    else:
        passed = d.error <= tol
    return Cell(method, backend, name, d.error, tol, passed, case, d.index, d.value,
                d.expected, criterion)


def keep_worst(worst: dict[str, Cell], cell: Cell) -> None:
    """Keep, per array name, the failing cell with the largest error, else the largest."""
    previous = worst.get(cell.name)
    if previous is None or (previous.passed and not cell.passed) or (
        previous.passed == cell.passed and cell.error > previous.error
    ):
        worst[cell.name] = cell
