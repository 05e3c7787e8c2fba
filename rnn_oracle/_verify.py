"""The cross-check matrix behind ``rnn-oracle verify``.

Every method that can run on a backend computes the gradient of the same cases, and
each is compared, array by array, with the NumPy complex-step baseline (exact to
rounding, and independent of every hand derivation). Rows are (method, backend) pairs,
so later backends and derivations add rows without changing the report.

The verdict (:attr:`VerifyReport.verdict`) is one of three, as for a gradient check:
``right`` (something was compared and everything agrees), ``wrong`` (a method disagrees
or raised) and ``inconclusive`` (nothing was compared, or a backend that was asked for by
name is not installed or cannot be loaded); exit codes 0, 1 and 3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends import (
    BackendError,
    available_backends,
    declared_capabilities,
    get_backend,
    install_hint,
    known_backends,
)
from rnn_oracle import _packages  # noqa: F401  (first: conventions and backends are ours)
from rnn_oracle._background import Background, runs_in_background
from rnn_oracle._reference import computed_together, reference
from rnn_oracle.case import Case, make_case
from rnn_oracle.compare import FD_ESTIMATE_FACTOR, discrepancy, term_scales, tolerance
from rnn_oracle.derivations import METHODS, Reference
from rnn_oracle.errors import ExitCode, OracleError
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
        """Nothing wrong in this row (a row that did not run has nothing wrong either:
        :attr:`compared` says whether it ran)."""
        return not self.status.startswith("error") and all(c.passed for c in self.cells)

    @property
    def compared(self) -> bool:
        """The row ran and was compared with the baseline."""
        return self.status == "ran" and bool(self.cells)

    @property
    def worst(self) -> float:
        return max((c.error for c in self.cells), default=0.0)

    @property
    def worst_cell(self) -> Cell | None:
        """The failing cell with the largest error, else the cell with the largest error."""
        if not self.cells:
            return None
        return max(self.cells, key=lambda c: (not c.passed, c.error))


def not_judged(rows: Iterable[Row], requested: Sequence[str]) -> tuple[str, ...]:
    """Why ``rows`` are no verdict: nothing was compared, or a backend in ``requested``
    (asked for by name) did not run. Empty when they are one."""
    rows = list(rows)
    reasons = []
    if not any(r.compared for r in rows):
        reasons.append("nothing was compared (every row is the baseline, n/a or skipped)")
    for backend in requested:
        skipped = next((r.status for r in rows
                        if r.backend == backend and r.status.startswith("skipped")), None)
        if skipped is not None:
            reasons.append(
                f"backend {backend!r} was asked for but is {skipped.removeprefix('skipped: ')}"
            )
    return tuple(reasons)


def verdict_of(rows: Iterable[Row], requested: Sequence[str]) -> str:
    """``"wrong"`` (a method disagrees or raised), ``"inconclusive"`` (nothing wrong, but
    :func:`not_judged` gives a reason) or ``"right"``."""
    rows = list(rows)
    if any(not r.passed for r in rows):
        return "wrong"
    return "inconclusive" if not_judged(rows, requested) else "right"


EXIT_CODES: dict[str, ExitCode] = {
    "right": ExitCode.RIGHT, "wrong": ExitCode.WRONG, "inconclusive": ExitCode.NOT_JUDGED,
}


@dataclass(frozen=True)
class VerifyReport:
    rows: tuple[Row, ...]
    names: tuple[str, ...]  #: the column order
    cases: tuple[dict[str, Any], ...]
    dtype: str
    baseline: tuple[str, str] = BASELINE
    notes: tuple[str, ...] = field(default=())
    #: the backends the caller asked for by name: one that could not run leaves the matrix
    #: unjudged (one merely not installed, when none was named, does not)
    requested: tuple[str, ...] = ()

    @property
    def compared(self) -> int:
        """How many (method, backend) rows were compared with the baseline."""
        return sum(1 for r in self.rows if r.compared)

    @property
    def not_judged(self) -> tuple[str, ...]:
        """Why the matrix is no verdict (see :func:`not_judged`); empty when it is one."""
        return not_judged(self.rows, self.requested)

    @property
    def verdict(self) -> str:
        """``"right"``, ``"wrong"`` or ``"inconclusive"`` (see :func:`verdict_of`)."""
        return verdict_of(self.rows, self.requested)

    @property
    def exit_code(self) -> ExitCode:
        """0 right, 1 wrong, 3 not judged (:class:`~rnn_oracle.errors.ExitCode`)."""
        return EXIT_CODES[self.verdict]

    @property
    def passed(self) -> bool:
        """True only when something was compared, everything compared agrees and every
        backend asked for ran."""
        return self.verdict == "right"

    def backends(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.backend for r in self.rows))

    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.method for r in self.rows))

    def row(self, method: str, backend: str) -> Row | None:
        return next((r for r in self.rows if (r.method, r.backend) == (method, backend)), None)

    def to_json(self) -> dict[str, Any]:
        """Machine-readable report: the verdict, ``matrix[variant][backend]`` and every
        array's cell."""
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "exit_code": int(self.exit_code),
            "not_judged": list(self.not_judged),
            "requested_backends": list(self.requested),
            "compared": self.compared,
            "dtype": self.dtype,
            "baseline": {"method": self.baseline[0], "backend": self.baseline[1]},
            "cases": list(self.cases),
            "matrix": {
                m: {
                    r.backend: {
                        "status": r.status,
                        "passed": r.passed,
                        "compared": r.compared,
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
                    "compared": r.compared,
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

    def __rich__(self) -> Any:
        from rnn_oracle.oracle.render import render_verify

        return render_verify(self)

    def format_table(self, detail: bool = False) -> str:
        """The matrix as plain text (rows: variants, columns: backends, cells: the worst
        normwise relative error over every array, ``ok`` or ``FAIL``), then the failures,
        the skipped backends and the verdict (``ALL AGREE``, ``DISAGREEMENT`` or ``NOT
        JUDGED: why``); ``detail`` adds one row per variant and backend with a column per
        array. Nothing is truncated."""
        from rnn_oracle.oracle.render import render_verify, to_text

        return to_text(render_verify(self, detail=detail))


#: ``progress(done, total, label)``: called before each row with the rows done so far, the
#: number of rows and what runs next, and once more at the end (``done == total``).
Progress = Callable[[int, int, str], None]


def check_names(
    where: str, parameter: str, given: Sequence[str] | None, known: Sequence[str]
) -> list[str]:
    """``given`` as a new list (``known`` when None), refusing a string, an empty list and
    unknown names with an :class:`OracleError` naming ``where``, the parameter and the
    choices."""
    if given is None:
        return list(known)
    if isinstance(given, str):
        raise OracleError(
            f"{where}: {parameter}: expected a sequence of names, got the string {given!r} "
            f"(write [{given!r}])"
        )
    names = list(given)
    if not names:
        raise OracleError(
            f"{where}: {parameter}: expected at least one of {', '.join(known)}; got none"
        )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise OracleError(
            f"{where}: {parameter}: unknown {', '.join(map(repr, unknown))}; known "
            f"{parameter} are {', '.join(known)}"
        )
    return names


def check_seeds(where: str, seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list of non-negative integers, at least one."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise OracleError(
            f"{where}: seeds: expected an iterable of integers, got {type(seeds).__name__}"
        )
    values = list(seeds)
    if not values:
        raise OracleError(f"{where}: seeds: expected at least one seed, got none")
    for k, seed in enumerate(values):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise OracleError(
                f"{where}: seeds[{k}]: expected a non-negative integer, got {seed!r}"
            )
    return [int(s) for s in values]


def broken_backends(backends: Iterable[str], installed: set[str]) -> dict[str, str]:
    """The installed backends among ``backends`` whose framework cannot be loaded, each
    with a one-line reason naming the framework (an install that is present but broken)."""
    broken = {}
    for name in backends:
        if name not in installed:
            continue
        try:
            get_backend(name)
        except BackendError as exc:  # names the framework, the cause and the fix
            broken[name] = " ".join(str(exc).split())
        except Exception as exc:  # whatever else loading a framework raises, it is broken
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            broken[name] = f"backend {name!r}: {name} is installed but cannot be loaded ({detail})"
    return broken


def verify(
    specs: Sequence[RNNSpec] | None = None,
    *,
    seq_len: int = 4,
    batch: int | None = 2,
    seeds: Iterable[int] = (0,),
    dtype: str = "float64",
    methods: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Run every requested method on every requested backend over the cases
    ``specs × seeds`` and compare each with the baseline.

    Args:
        specs: the networks (default: :func:`default_specs`); at least one.
        seq_len: the sequence length of every case.
        batch: the batch size of every case (``None`` for unbatched).
        dtype: the dtype of every case.
        seeds: one case per seed and spec; at least one.
        methods: restrict the rows (default: every method in
            :data:`~rnn_oracle.derivations.METHODS`).
        backends: restrict the columns (default: every known backend). A backend named
            here that is not installed, or cannot be loaded, makes the verdict
            ``inconclusive``; without it such a backend is only reported as skipped.
        progress: called as rows run (see :data:`Progress`).

    Raises:
        OracleError: an empty or unknown ``specs``, ``seeds``, ``methods`` or ``backends``.
    """
    specs = list(default_specs() if specs is None else specs)
    if not specs:
        raise OracleError("verify: specs: expected at least one RNNSpec, got none")
    for k, spec in enumerate(specs):
        if not isinstance(spec, RNNSpec):
            raise OracleError(
                f"verify: specs[{k}]: expected an RNNSpec, got {type(spec).__name__}"
            )
    seed_list = check_seeds("verify", seeds)
    method_list = check_names("verify", "methods", methods, tuple(METHODS))
    backend_list = check_names("verify", "backends", backends, known_backends())
    cases: list[Case] = [
        make_case(spec, seq_len, batch, seed=seed, dtype=dtype)
        for spec in specs
        for seed in seed_list
    ]
    installed = set(available_backends())
    names = tuple(dict.fromkeys(n for c in cases for n in c.input_names))
    # A compiling backend's rows are a job per case in the worker threads, every method
    # that compiles as one program (computed_together); they start at once, and the other
    # backends' rows are computed when the calling thread reaches them.
    compiling = [b for b in backend_list if runs_in_background(b)]
    # Every backend loads before the worker threads start: a worker that inspects an array
    # while the calling thread is still importing torch finds a half-made module
    # (array-api-compat's is_torch_array reads sys.modules["torch"].Tensor) and fails.
    gates = gate_rows(method_list, backend_list, lambda m: METHODS[m][1], installed)
    together = {b: [m for m in method_list if gates[(m, b)] is None] for b in compiling}
    # Every spec's first case first: a later seed reuses its spec's program, which two
    # workers would otherwise trace and compile twice at once.
    first_seeds_first = sorted(range(len(cases)), key=lambda k: k % len(seed_list))
    jobs = {(b, k): functools.partial(_results_together, ms, b, cases[k])
            for b, ms in together.items() if ms for k in first_seeds_first}

    done: dict[int, Row] = {}
    with Background(jobs) as background:
        plan = [(m, b, gates[(m, b)]) for m in method_list for b in backend_list]
        # The baseline sees exactly the same numbers, promoted to float64.
        baselines = [
            reference(c.astype("float64"), backend=BASELINE[1], method=BASELINE[0]).numpy()
            for c in cases
        ]
        # Errors are measured against the size of the terms each gradient sums: what
        # rounding can do to a correct result (see compare.tolerance).
        scales = [term_scales(c) for c in cases]
        for k in execution_order(plan):
            method, backend_name, gated = plan[k]
            if progress is not None:
                progress(len(done), len(plan), f"{method} on {backend_name}")
            done[k] = gated if gated is not None else _row(
                method, backend_name, cases,
                [background.result((backend_name, c))[method] for c in range(len(cases))]
                if backend_name in together else _results(method, backend_name, cases),
                baselines, scales, names, dtype,
            )
    if progress is not None:
        progress(len(plan), len(plan), "done")
    return VerifyReport(
        rows=tuple(done[k] for k in range(len(plan))),
        names=names,
        cases=tuple(
            {"spec": c.spec.to_dict(), "seq_len": c.seq_len, "batch": c.batch, "seed": c.seed}
            for c in cases
        ),
        dtype=dtype,
        requested=() if backends is None else tuple(dict.fromkeys(backend_list)),
    )


def gate_rows(
    methods: Sequence[str],
    backends: Sequence[str],
    capability: Callable[[str], str | None],
    installed: set[str],
) -> dict[tuple[str, str], Row | None]:
    """:func:`gate_row` of every method on every backend (``capability(method)`` is what
    it needs); the installed backends are loaded here, to find the broken ones."""
    broken = broken_backends(backends, installed)
    return {(m, b): gate_row(m, b, capability(m), installed, broken)
            for m in methods for b in backends}


def gate_row(
    method: str,
    backend: str,
    capability: str | None,
    installed: set[str],
    broken: Mapping[str, str] | None = None,
) -> Row | None:
    """The row of a method and backend that does not run (the baseline itself, a
    capability the backend lacks, a backend not installed or ``broken``), else None."""
    if (method, backend) == BASELINE:
        return Row(method, backend, "baseline")
    if capability and capability not in declared_capabilities(backend):
        return Row(method, backend, f"n/a: needs {capability}")
    if backend not in installed:
        return Row(method, backend, f"skipped: not installed ({install_hint(backend)})")
    if broken and backend in broken:
        return Row(method, backend, f"skipped: broken ({broken[backend]})")
    return None


def execution_order(plan: Sequence[tuple[str, str, Row | None]]) -> list[int]:
    """The order the calling thread takes a matrix's rows in: those computed in the worker
    threads last, so that they have been computed meanwhile (matrix order otherwise)."""
    return sorted(range(len(plan)), key=lambda k: runs_in_background(plan[k][1]))


def _results(method: str, backend: str, cases: Sequence[Case]) -> list[Reference]:
    """Every case's gradients by ``method`` on ``backend``, as NumPy arrays."""
    return [reference(case, backend=backend, method=method).numpy() for case in cases]


def _results_together(
    methods: Sequence[str], backend: str, case: Case
) -> dict[str, Reference]:
    """One case's gradients by every method, the compiling ones as one program."""
    with computed_together(case, backend, methods):
        return {m: reference(case, backend=backend, method=m).numpy() for m in methods}


def _row(
    method: str,
    backend: str,
    cases: Sequence[Case],
    results: Sequence[Reference],
    baselines: Sequence[Any],
    scales: Sequence[Mapping[str, float]],
    names: Sequence[str],
    dtype: str,
) -> Row:
    """A row's cells: each case's ``results`` against its baseline, errors measured against
    the case's term ``scales`` (:func:`~rnn_oracle.compare.term_scales`)."""
    worst: dict[str, Cell] = {}
    for k, (case, result, base) in enumerate(zip(cases, results, baselines, strict=True)):
        for name in case.input_names:
            cell = compare_cell(
                method, backend, name, result.grads[name], base.grads[name],
                estimate=None if result.error is None else result.error[name],
                scale=scales[k][name], tol=tolerance(dtype, case.seq_len), case=k,
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
