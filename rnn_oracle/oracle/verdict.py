"""The verdict on one gradient array on one case: right, wrong (and why), or not judged.

Shared by every target: the user's array ``got`` against the reference ``R`` (the same
view of the float64 canonical reference), under the policy's bounds
(:mod:`rnn_oracle.oracle.policy`). A pass counts only where the case can tell ``R`` from
the wrong answers the oracle knows; a failure is diagnosed
(:func:`~rnn_oracle.oracle.diagnosis.diagnose`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.diagnosis import Candidate, Diagnosis, Location, diagnose
from rnn_oracle.oracle.policy import Judgement, discriminates, judge, underflows
from rnn_oracle.oracle.report import GateMap, GradientResult
from rnn_oracle.oracle.schedule import inconclusive_result

#: ``(worst index, diagnosis) -> (time step, how it was found)`` for a wrong array.
StepOf = Callable[[tuple[int, ...], Diagnosis | None], tuple[int | None, str | None]]
#: ``(got, atol, diagnosis) -> the per-gate, per-step map`` of a wrong gated array.
GateMapOf = Callable[[np.ndarray, float, Diagnosis | None], GateMap | None]


def judge_array(
    got: np.ndarray,
    R: np.ndarray,
    *,
    common: dict[str, Any],
    atol: float,
    rtol: float,
    case: Any,
    candidates: Callable[[], Iterable[Candidate]],
    diagnose_failures: bool,
    unrepresentable: str | None,
    implied: str,
    where: Location | None = None,
    reference_steps: np.ndarray | None = None,
    step_of: StepOf | None = None,
    gate_map: GateMapOf | None = None,
) -> tuple[GradientResult, float]:
    """The verdict on ``got`` and how far past its bound it is (0 when not judged).

    ``common`` holds the result's fixed fields (name, mapping, shape, seed, bounds,
    reference); ``candidates()`` the diagnosis' hypotheses; ``implied`` says what shape
    the user's array should have and why (a wrong shape no hypothesis explains is a
    protocol error); ``where`` is a network array's layer and direction; ``gate_map``
    makes a gated array's per-gate, per-step map, for a wrong array only.
    """
    if got.shape != R.shape:
        shaped = diagnose(got, R, candidates(), atol, rtol, where=where)
        if shaped.cause == "unknown":
            raise OracleError(f"grads[{common['name']!r}]: {implied}")
        return GradientResult(
            verdict="wrong shape", message=implied, diagnosis=shaped, got=got, **common
        ), float("inf")
    if unrepresentable is not None:
        return inconclusive_result(common, f"the case is not representable: "
                                           f"{unrepresentable}"), 0.0
    if not np.all(np.isfinite(got)):
        return non_finite_result(got, R, common), float("inf")
    j = judge(got, R, atol, rtol)
    fields = judged_fields(j, got)
    if j.passed:
        reason = underflows(R, case.dtype) or discriminates(
            R, atol, rtol, cheap_alternatives(R, case)
        )
        if reason is not None:
            return inconclusive_result({**common, **fields}, reason), 0.0
        return GradientResult(verdict="ok", message="agrees", **fields, **common), j.ratio
    diag = None
    if diagnose_failures:
        diag = diagnose(got, R, candidates(), atol, rtol, reference_steps=reference_steps,
                        where=where)
    step, basis = (None, None) if step_of is None else step_of(j.worst_index, diag)
    message = (
        ("" if where is None else f"{where}: ")
        + f"{j.n_failed} of {got.size} entries wrong; worst at {list(j.worst_index)}: got "
        f"{j.actual:.6g}, expected {j.expected:.6g}"
        + ("" if step is None else f" (time step {step}: {basis})")
    )
    return GradientResult(
        verdict="wrong",
        message=message,
        step=step,
        step_basis=basis,
        diagnosis=diag,
        step_errors=None if diag is None else diag.per_step_deviation,
        gate_map=None if gate_map is None else gate_map(got, atol, diag),
        **fields,
        **common,
    ), j.ratio


def cheap_alternatives(R: np.ndarray, case: Any) -> list[tuple[str, np.ndarray]]:
    """The wrong answers a case is checked against before a pass counts (besides zero):
    negated, transposed, and scaled by the reduction factors. The structural slips
    (truncation, off-by-one, wrong derivative) are covered by the resolution the bound
    must reach (:func:`~rnn_oracle.oracle.policy.discriminates`)."""
    T, B = case.seq_len, case.batch or 1
    out: list[tuple[str, np.ndarray]] = [("negated", -R)]
    if R.ndim == 2:
        out.append(("transposed", R.T))
    for label, factor in (("doubled", 2.0), ("halved", 0.5), (f"{T}×", float(T)),
                          (f"1/{T}×", 1.0 / T), (f"{B}×", float(B)), (f"1/{B}×", 1.0 / B)):
        if factor != 1.0:
            out.append((f"{label} scaled", factor * R))
    return out


def non_finite_result(got: np.ndarray, R: np.ndarray, common: dict[str, Any]) -> GradientResult:
    """The result for a gradient with a NaN or infinite entry (the first one is shown)."""
    bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
    return GradientResult(
        verdict="non-finite",
        message=f"entry {list(bad)} is {got[bad]} (expected {R[bad]:.6g})",
        worst_index=bad,
        value=float(got[bad]),
        expected=float(R[bad]),
        n_failed=int(np.sum(~np.isfinite(got))),
        got=got,
        **common,
    )


def judged_fields(j: Judgement, got: np.ndarray) -> dict[str, Any]:
    """The :class:`GradientResult` fields that a judgement of ``got`` fills in."""
    return {
        "max_abs_error": j.max_abs,
        "abs_index": j.abs_index,
        "max_rel_error": j.max_rel,
        "rel_index": j.rel_index,
        "worst_index": j.worst_index,
        "value": j.actual,
        "expected": j.expected,
        "n_failed": j.n_failed,
        "got": got,
    }


