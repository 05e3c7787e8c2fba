"""The cross-check matrix over architectures and cells: ``rnn-oracle verify --all-architectures``.

Each *entry* is one :class:`NetworkSpec` (an architecture with a cell, a head and, for
one_to_many, a feedback). For every entry, every method in
:data:`~rnn_oracle.architectures.NETWORK_METHODS` runs on every backend and is compared,
array by array, with NumPy complex step on the same case — exact to rounding and
independent of every hand derivation — exactly as the single-layer matrix of
:func:`rnn_oracle.verify` does; each entry's result is a
:class:`~rnn_oracle.VerifyReport` (rows: method × backend; cells: arrays).

Criteria (float64): an exact method (hand BPTT, the block-by-block variants, autodiff)
agrees when ``max |a − b| / max(max |a|, max |b|) ≤ FLOAT64_RTOL`` for every array — the
normwise error relative to the array's largest entry; finite differences agree when every
entry lies within ``FD_ESTIMATE_FACTOR`` times its own error estimate. A method that is
not defined for an entry (a single-layer variant on a GRU, say) says why (``n/a: …``); a
backend that is not installed says how to install it; a method that raises anything else
fails.

The default matrix (:func:`default_entries`) covers every architecture with each cell
family (vanilla, GRU, LSTM), one_to_many with each feedback, and every head, at sizes
small enough that the whole matrix, JAX included, stays short: a finite difference or a
forward-mode Jacobian evaluates the network once per scalar. On JAX every derivation is
one compiled program per network (``rnn_oracle.derivations._compiled``), and JAX's rows
are computed in worker threads, where XLA's compiling overlaps with the other rows
(``rnn_oracle._background``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backends import available_backends, known_backends
from rnn_oracle._background import Background, runs_in_background
from rnn_oracle._verify import (
    BASELINE,
    EXIT_CODES,
    Cell,
    Progress,
    Row,
    VerifyReport,
    check_names,
    check_seeds,
    compare_cell,
    execution_order,
    gate_rows,
    keep_worst,
    not_judged,
    verdict_of,
)
from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.reference import (
    NETWORK_METHODS,
    network_computed_together,
    network_reference,
)
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.compare import FD_ESTIMATE_FACTOR, FLOAT64_RTOL
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import ExitCode, OracleError

#: The families a cell belongs to (every vanilla activation is one family).
FAMILIES: dict[str, str] = {
    "tanh": "vanilla", "sigmoid": "vanilla", "relu": "vanilla", "identity": "vanilla",
    "gru": "gru", "lstm": "lstm",
}


def entry_key(spec: NetworkSpec) -> str:
    """The entry's name under its architecture: the cell, with ``+feedback`` when the
    network feeds back (``tanh``, ``gru+output``)."""
    return spec.cell if spec.feedback == "none" else f"{spec.cell}+{spec.feedback}"


def default_entries(n_x: int = 2, n_h: int = 3, n_y: int = 2) -> list[NetworkSpec]:
    """Every architecture with a vanilla cell, a GRU and an LSTM; one_to_many with each
    feedback; the heads, loss signs, reductions and initial states spread over them.

    ``n_x`` and ``n_y`` must be equal and ``n_h`` at least 2 only where feedback needs it:
    one_to_many with ``output`` feedback reads ``n_y`` back and with ``hidden`` feedback
    reads ``n_h`` (those entries use ``n_x = n_y`` and ``n_x = n_h``).
    """

    def spec(architecture: str, cell: str, **kw: Any) -> NetworkSpec:
        sizes = {"n_x": n_x, "n_h": n_h, "n_y": n_y}
        feedback = kw.get("feedback", "none")
        if feedback == "output":
            sizes["n_x"] = n_y
        elif feedback == "hidden":
            sizes["n_x"] = n_h
        return NetworkSpec(architecture, cell, **sizes, **kw)  # type: ignore[arg-type]

    mean = {"time_reduction": "mean", "batch_reduction": "mean"}
    return [
        spec("many_to_many", "tanh"),
        spec("many_to_many", "gru", head="linear_mse", **mean),
        spec("many_to_many", "lstm", head="none"),
        spec("many_to_one", "sigmoid", loss_sign="negated"),
        spec("many_to_one", "gru", initial_state="zero"),
        spec("many_to_one", "lstm", head="linear_mse"),
        spec("one_to_many", "tanh"),
        spec("one_to_many", "sigmoid", feedback="output"),
        spec("one_to_many", "relu", feedback="hidden", head="linear_mse"),
        spec("one_to_many", "gru", feedback="output", head="linear_mse"),
        spec("one_to_many", "lstm", feedback="hidden"),
        spec("encoder_decoder", "tanh", **mean),
        spec("encoder_decoder", "gru"),
        spec("encoder_decoder", "lstm", head="none"),
        spec("stacked", "relu", head="linear_mse"),
        spec("stacked", "gru"),
        spec("stacked", "lstm", initial_state="zero"),
        spec("bidirectional", "identity", head="none"),
        spec("bidirectional", "gru", head="linear_mse"),
        spec("bidirectional", "lstm"),
        spec("deep_bidirectional", "tanh"),
        spec("deep_bidirectional", "gru", head="none", **mean),
        spec("deep_bidirectional", "lstm", loss_sign="negated"),
    ]


@dataclass(frozen=True)
class EntryReport:
    """One entry of the matrix: its spec and its (method × backend) report."""

    spec: NetworkSpec
    report: VerifyReport

    @property
    def key(self) -> str:
        return entry_key(self.spec)

    @property
    def passed(self) -> bool:
        return self.report.passed

    def backend_summary(self, backend: str) -> dict[str, Any]:
        """Whether every method that ran on ``backend`` agreed, and what did not run."""
        rows = [r for r in self.report.rows if r.backend == backend]
        ran = [r for r in rows if r.status == "ran" or r.status.startswith("error")]
        skipped = [r.status for r in rows if r.status.startswith("skipped")]
        exact = [c.error for r in ran for c in r.cells if c.method != "finite_difference"]
        return {
            "status": skipped[0] if skipped and not ran else "ran",
            "passed": all(r.passed for r in rows),
            "ran": [r.method for r in ran],
            "failed": [r.method for r in ran if not r.passed],
            "baseline": any(r.status == "baseline" for r in rows),
            "n/a": {r.method: r.status for r in rows if r.status.startswith("n/a")},
            "worst_exact_error": max(exact) if exact else None,
        }

    def to_json(self) -> dict[str, Any]:
        full = self.report.to_json()
        return {
            "passed": self.passed,
            "verdict": self.report.verdict,
            "label": self.spec.label,
            "architecture": self.spec.architecture,
            "cell": self.spec.cell,
            "family": FAMILIES[self.spec.cell],
            "feedback": self.spec.feedback,
            "head": self.spec.head,
            "spec": self.spec.to_dict(),
            "cases": full["cases"],
            "backends": {b: self.backend_summary(b) for b in self.report.backends()},
            "matrix": full["matrix"],
            "rows": full["rows"],
        }


@dataclass(frozen=True)
class ArchitecturesReport:
    """The whole matrix: one :class:`EntryReport` per entry, in order."""

    entries: tuple[EntryReport, ...]
    dtype: str
    baseline: tuple[str, str] = BASELINE
    #: the backends the caller asked for by name (see :attr:`VerifyReport.requested`)
    requested: tuple[str, ...] = ()

    def _rows(self) -> list[Row]:
        return [r for e in self.entries for r in e.report.rows]

    @property
    def not_judged(self) -> tuple[str, ...]:
        """Why the matrix is no verdict: nothing was compared in any entry, or a backend
        that was asked for did not run. Empty when it is one (an entry where no method
        applies is shown as ``n/a``, and does not by itself make the matrix unjudged)."""
        return not_judged(self._rows(), self.requested)

    @property
    def verdict(self) -> str:
        """``"wrong"`` (a method disagrees or raised in some entry), ``"inconclusive"``
        (:attr:`not_judged` says why) or ``"right"``."""
        return verdict_of(self._rows(), self.requested)

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
        return tuple(dict.fromkeys(b for e in self.entries for b in e.report.backends()))

    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for e in self.entries for m in e.report.methods()))

    def entry(self, architecture: str, key: str) -> EntryReport | None:
        return next(
            (e for e in self.entries if (e.spec.architecture, e.key) == (architecture, key)),
            None,
        )

    def to_json(self) -> dict[str, Any]:
        """``architectures[architecture]["cells"][entry key]``: each entry's per-backend
        summary, its method × backend matrix and every array's cell."""
        architectures: dict[str, Any] = {}
        for e in self.entries:
            arch = architectures.setdefault(
                e.spec.architecture, {"passed": True, "cells": {}}
            )
            arch["cells"][e.key] = e.to_json()
            arch["passed"] = arch["passed"] and e.passed
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "exit_code": int(self.exit_code),
            "not_judged": list(self.not_judged),
            "requested_backends": list(self.requested),
            "dtype": self.dtype,
            "baseline": {"method": self.baseline[0], "backend": self.baseline[1]},
            "criteria": {
                "exact": f"max |a - b| / max(max |a|, max |b|) <= {FLOAT64_RTOL:g} per array",
                "finite_difference": (
                    f"every entry within {FD_ESTIMATE_FACTOR:g}x its own error estimate"
                ),
            },
            "methods": list(self.methods()),
            "backends": {
                b: {
                    "passed": all(e.backend_summary(b)["passed"] for e in self.entries),
                    "status": next(
                        (s for e in self.entries
                         if (s := e.backend_summary(b)["status"]) != "ran"),
                        "ran",
                    ),
                }
                for b in self.backends()
            },
            "architectures": architectures,
        }

    def __rich__(self) -> Any:
        from rnn_oracle.oracle.render import render_architectures

        return render_architectures(self)

    def format_table(self, detail: bool = False) -> str:
        """One row per entry, one column per backend, as plain text. A cell reads ``ok``
        or ``FAIL`` over every method that ran there, the worst error of the exact
        methods, and how many methods ran; ``detail`` adds each entry's method × backend
        matrix. Then the n/a reasons, the failures, the skipped backends and the verdict
        (``ALL AGREE``, ``DISAGREEMENT`` or ``NOT JUDGED: why``). Nothing is truncated."""
        from rnn_oracle.oracle.render import render_architectures, to_text

        return to_text(render_architectures(self, detail=detail))

    def not_applicable(self) -> list[str]:
        """Each distinct n/a reason once, with the methods and entries it covers (a
        reason that names its method is grouped with the same reason for other methods)."""
        reasons: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
        for e in self.entries:
            for r in e.report.rows:
                if not r.status.startswith("n/a"):
                    continue
                generic = r.status.replace(f"n/a: {r.method}", "n/a: <method>", 1)
                methods, labels = reasons.setdefault(generic, ({}, {}))
                methods[r.method] = None
                labels[e.spec.label] = None
        out = []
        for status, (methods, labels) in reasons.items():
            where = (
                "every network" if len(labels) == len(self.entries) else ", ".join(labels)
            )
            out.append(f"{status.split(' (', 1)[0]}")
            out.append(f"    {', '.join(methods)} on {where}")
        return out


def verify_architectures(
    entries: Sequence[NetworkSpec] | None = None,
    *,
    seq_len: int = 2,
    batch: int | None = 2,
    seeds: Iterable[int] = (0,),
    dtype: str = "float64",
    methods: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ArchitecturesReport:
    """Run every requested method on every requested backend for every entry over the
    cases ``entry × seeds`` and compare each with NumPy complex step.

    Args:
        entries: the networks (default: :func:`default_entries`).
        seq_len: T of every case; one_to_many reads one input and emits ``seq_len``
            outputs, encoder_decoder decodes ``seq_len + 1`` steps.
        batch: batch size of every case (``None``: unbatched).
        seeds: one case per seed and entry.
        dtype: ``float64`` (the tolerance of the exact methods is ``FLOAT64_RTOL``).
        methods: restrict the rows (default: every method).
        backends: restrict the columns (default: every known backend). A backend named
            here that is not installed, or cannot be loaded, makes the verdict
            ``inconclusive``.
        progress: called as rows run, over every entry
            (see :data:`~rnn_oracle._verify.Progress`).
    """
    specs = list(entries) if entries is not None else default_entries()
    if not specs:
        raise OracleError("verify_architectures: entries: expected at least one NetworkSpec, "
                          "got none")
    for k, spec in enumerate(specs):
        if not isinstance(spec, NetworkSpec):
            raise OracleError(
                f"verify_architectures: entries[{k}] must be a NetworkSpec, got "
                f"{type(spec).__name__}"
            )
    if dtype != "float64":
        raise OracleError(
            f"verify_architectures: dtype must be 'float64', got {dtype!r} (the network "
            "matrix has no float32 term scales)"
        )
    method_list = check_names("verify_architectures", "methods", methods,
                              tuple(NETWORK_METHODS))
    backend_list = check_names("verify_architectures", "backends", backends,
                               known_backends())
    seed_list = check_seeds("verify_architectures", seeds)
    installed = set(available_backends())
    total = len(specs) * len(method_list) * len(backend_list)
    per_entry = len(method_list) * len(backend_list)
    cases = [[make_network_case(spec, seq_len, batch, seed=seed) for seed in seed_list]
             for spec in specs]
    # As in rnn_oracle.verify: a compiling backend's rows of an entry are one job in the
    # worker threads (every method that compiles as one program per case), queued for
    # every entry at the start, so that the workers run ahead of the calling thread.
    compiling = [b for b in backend_list if runs_in_background(b)]
    # Every backend loads before the worker threads start (see rnn_oracle._verify.verify).
    gates = gate_rows(method_list, backend_list, NETWORK_METHODS.__getitem__, installed)
    together = {b: [m for m in method_list if gates[(m, b)] is None] for b in compiling}
    jobs = {(k, b): functools.partial(_results_together, ms, b, cases[k])
            for k in range(len(specs)) for b, ms in together.items() if ms}
    reports = []
    with Background(jobs) as background:
        plan = [(m, b, gates[(m, b)]) for m in method_list for b in backend_list]
        for k, spec in enumerate(specs):
            step = None if progress is None else _offset(progress, k * per_entry, total, spec)
            reports.append(EntryReport(spec, _verify_entry(
                cases[k], plan, functools.partial(_entry_results, background, k, cases[k]),
                () if backends is None else tuple(dict.fromkeys(backend_list)), step,
            )))
    if progress is not None:
        progress(total, total, "done")
    return ArchitecturesReport(
        entries=tuple(reports),
        dtype=dtype,
        requested=() if backends is None else tuple(dict.fromkeys(backend_list)),
    )


def _offset(progress: Progress, start: int, total: int, spec: NetworkSpec) -> Progress:
    """One entry's row progress as progress over the whole matrix."""

    def report(done: int, _: int, label: str) -> None:
        if label != "done":
            progress(start + done, total, f"{spec.label}: {label}")

    return report


def _entry_results(
    background: Background[tuple[int, str]], entry: int, cases: Sequence[NetworkCase],
    method: str, backend: str,
) -> list[Reference] | str:
    """Entry ``entry``'s :func:`_results` for a row: the workers', for a compiling backend."""
    if runs_in_background(backend):
        together: dict[str, list[Reference] | str] = background.result((entry, backend))
        return together[method]
    return _results(method, backend, cases)


def _verify_entry(
    cases: Sequence[NetworkCase],
    plan: Sequence[tuple[str, str, Row | None]],
    results: Callable[[str, str], list[Reference] | str],
    requested: tuple[str, ...],
    progress: Progress | None,
) -> VerifyReport:
    """One entry's matrix: each row of ``plan`` is gated, or compared from its
    ``results(method, backend)`` (:func:`_results`)."""
    baselines = [network_reference(c, BASELINE[1], BASELINE[0]).numpy() for c in cases]
    done: dict[int, Row] = {}
    for k in execution_order(plan):
        method, backend, gated = plan[k]
        if progress is not None:
            progress(len(done), len(plan), f"{method} on {backend}")
        done[k] = gated if gated is not None else _row(
            method, backend, cases, results(method, backend), baselines
        )
    return VerifyReport(
        rows=tuple(done[k] for k in range(len(plan))),
        names=cases[0].input_names,
        cases=tuple(
            {"spec": c.spec.to_dict(), "seq_len": c.seq_len, "out_len": c.out_len,
             "batch": c.batch, "seed": c.seed}
            for c in cases
        ),
        dtype="float64",
        requested=requested,
    )


def _results(method: str, backend: str, cases: Sequence[NetworkCase]) -> list[Reference] | str:
    """Every case's gradients by ``method`` on ``backend`` as NumPy arrays, or the row's
    status when the method does not run: ``n/a: …`` (not defined here) or ``error: …``
    (it raised: a disagreement, not the end of the matrix)."""
    out = []
    for case in cases:
        result = _result(method, backend, case)
        if isinstance(result, str):
            return result
        out.append(result)
    return out


def _results_together(
    methods: Sequence[str], backend: str, cases: Sequence[NetworkCase]
) -> dict[str, list[Reference] | str]:
    """:func:`_results` of every method, each case's compiling methods as one program."""
    out: dict[str, list[Reference] | str] = {m: [] for m in methods}
    for case in cases:
        with network_computed_together(case, backend, methods):
            for method in methods:
                so_far = out[method]
                if isinstance(so_far, list):
                    result = _result(method, backend, case)
                    out[method] = result if isinstance(result, str) else [*so_far, result]
    return out


def _result(method: str, backend: str, case: NetworkCase) -> Reference | str:
    """One case's :func:`_results`."""
    try:
        return network_reference(case, backend, method).numpy()
    except OracleError as exc:
        message = str(exc)
        return message if message.startswith("n/a") else f"error: {message}"
    except Exception as exc:  # a crash is a disagreement, not the end of the matrix
        return f"error: {type(exc).__name__}: {exc}"


def _row(
    method: str,
    backend: str,
    cases: Sequence[NetworkCase],
    results: list[Reference] | str,
    baselines: Sequence[Any],
) -> Row:
    if isinstance(results, str):
        return Row(method, backend, results)
    worst: dict[str, Cell] = {}
    for k, (case, result, base) in enumerate(zip(cases, results, baselines, strict=True)):
        for name in case.input_names:
            keep_worst(worst, compare_cell(
                method, backend, name, result.grads[name], base.grads[name],
                estimate=None if result.error is None else result.error[name],
                scale=0.0, tol=FLOAT64_RTOL, case=k,
                criterion="max error / max entry <= FLOAT64_RTOL",
            ))
    return Row(method, backend, "ran", tuple(worst[n] for n in cases[0].input_names
                                            if n in worst))


__all__ = [
    "ArchitecturesReport",
    "EntryReport",
    "default_entries",
    "entry_key",
    "verify_architectures",
]
