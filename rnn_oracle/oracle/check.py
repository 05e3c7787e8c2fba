"""``check_gradients``: run a target on random cases, judge every gradient against the
float64 hand-BPTT reference, and diagnose what is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle._reference import reference
from rnn_oracle.architectures.frameworks import framework_of
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.case import FLOAT_DTYPES, Case, make_case
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.diagnosis import Diagnosis, diagnose, diagnose_loss
from rnn_oracle.oracle.hypotheses import HypothesisPool
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.policy import (
    Bounds,
    Judgement,
    bounds,
    discriminates,
    judge,
    representable,
    step_judgements,
    underflows,
)
from rnn_oracle.oracle.report import (
    CaseInfo,
    GradientReport,
    GradientResult,
    LossResult,
    StepResult,
)
from rnn_oracle.oracle.schedule import (
    Draw,
    aggregate_gradients,
    check_budget,
    inconclusive_result,
    run_schedule,
)
from rnn_oracle.oracle.targets import Evaluation, Target, as_target
from rnn_oracle.params import ParamConvention
from rnn_oracle.spec import RNNSpec

#: Case schedule, cycled: lengths and weight scales vary so that a slip which one case
#: hides (a clip that does not bite, a truncation whose tail has vanished) shows in another;
#: the second case is long (T = 64), where slips in the recurrence live.
SEQ_LENS: tuple[int, ...] = (7, 64, 25, 9, 16, 5)
SCALES: tuple[float, ...] = (1.5, 1.0, 1.0, 2.0, 0.7, 1.2)
DEFAULT_BATCH = 3


def check_gradients(
    target: Any,
    *,
    convention: str | Mapping[str, str] | ParamConvention | None = None,
    spec: RNNSpec | NetworkSpec | None = None,
    mode: str | None = None,
    cases: int = 3,
    dtype: str = "float64",
    seed: int = 0,
    seq_len: int | None = None,
    batch: int | str | None = "auto",
    scale: float | None = None,
    diagnose_failures: bool = True,
    atol: float | None = None,
    rtol: float | None = None,
    max_cases: int | None = None,
) -> GradientReport:
    """Check the gradients of ``target`` on ``cases`` random cases.

    Args:
        target: a function in the model-mode protocol
            ``target(params, inputs, targets, h0) -> (loss, grads)`` or the layer-mode
            protocol ``target(params, inputs, h0, upstream) -> grads``; a torch
            ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (or a torch module with their parameter
            names); or a Flax ``SimpleCell``/``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``.
        convention: the names, shapes and data layout ``target`` uses: a preset
            (``"karpathy"``, ``"cs231n"``, …), a mapping such as ``{"Wx": "W_xh.T"}``, or a
            :class:`~rnn_oracle.ParamConvention`. Not given for modules and cells.
        spec: the network (cell, sizes, head, loss sign, reductions). Default: a tanh RNN
            with ``n_x, n_h, n_y = 3, 5, 4``, softmax cross-entropy summed over time and
            batch (the convention may imply other defaults). Layer mode uses the spec's
            cell and sizes only. Modules and cells give their own (a
            :class:`~rnn_oracle.architectures.NetworkSpec`, if given, must agree).
        mode: ``"model"`` (default for functions) or ``"layer"``.
        cases: how many judgements each gradient needs: cases that can tell it from the
            wrong answers the oracle knows (others are inconclusive and replaced).
        dtype: ``"float64"`` or ``"float32"``: the dtype of the arrays the target gets
            and must return.
        seed: seed of the first case (case ``i`` uses ``seed + i``).
        seq_len: fixed T for every case (default: a schedule of 7, 64, 25, 9, …).
        batch: batch size, ``None`` for unbatched; default 3 for row-vector conventions
            and unbatched for column-vector ones.
        scale: fixed weight scale (default: a schedule around 1; 3 saturates tanh).
        diagnose_failures: test the named hypotheses on every failing gradient.
        atol: an absolute bound for every gradient instead of the policy's
            (:mod:`rnn_oracle.oracle.policy`); recorded in the report.
        rtol: a relative bound instead of the policy's; recorded in the report.
        max_cases: draws allowed, replacements included (default ``4 × cases``).

    Returns:
        the report; ``report.verdict`` is ``"right"``, ``"wrong"`` or ``"inconclusive"``
        (no case could judge some gradient: never counted as right).

    Raises:
        OracleError: bad input or a protocol error (the target raised, returned the wrong
            structure, names, shape or dtype).

    Every torch module and Flax cell (a one-layer ``nn.RNN`` is the smallest layer stack),
    and a function given with a :class:`~rnn_oracle.architectures.NetworkSpec`, are checked
    by :func:`~rnn_oracle.oracle.network_check.check_network_gradients` (layer mode, per
    layer and direction).
    """
    if framework_of(target) is not None or isinstance(spec, NetworkSpec):
        from rnn_oracle.oracle.network_check import check_network_target

        return check_network_target(
            target, convention=convention, spec=spec, mode=mode, cases=cases, dtype=dtype,
            seed=seed, seq_len=seq_len, batch=batch, scale=scale,
            diagnose_failures=diagnose_failures, atol=atol, rtol=rtol, max_cases=max_cases,
        )
    tgt = as_target(target, convention=convention, mode=mode)
    resolved = tgt.resolve_spec(spec)
    layout = Layout(tgt.convention, resolved)
    check_options(cases, dtype, seed)
    overrides = check_overrides(atol, rtol)
    budget = check_budget(max_cases, cases)
    if batch == "auto":
        batch = None if tgt.convention.vectors == "column" else DEFAULT_BATCH
    if batch is not None and tgt.convention.state_shape == "column":
        raise OracleError(
            f"batch: convention {tgt.convention.name!r} uses column vectors, which have no "
            f"batch axis; got batch = {batch}"
        )

    def check_case(draw: Draw) -> _Outcome:
        case = make_case(resolved, draw.seq_len, batch, draw.seed, dtype,  # type: ignore[arg-type]
                         scale=draw.scale)
        case = tgt.prepare(case)
        return _check_case(tgt, layout, case, draw.scale, diagnose_failures, overrides)

    outcomes = run_schedule(
        check_case, cases=cases, budget=budget, seed=seed, seq_len=seq_len, scale=scale,
        seq_lens=SEQ_LENS, scales=SCALES,
    )
    return _aggregate(tgt, layout, outcomes, cases, overrides)


def check_options(cases: Any, dtype: Any, seed: Any) -> None:
    """Refuse a bad ``cases``, ``dtype`` or ``seed`` (shared with
    :func:`~rnn_oracle.oracle.network_check.check_network_gradients`)."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise OracleError(f"cases: expected a positive number of cases, got {cases!r}")
    if dtype not in FLOAT_DTYPES:
        raise OracleError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OracleError(f"seed: expected a non-negative integer, got {seed!r}")


def check_overrides(atol: Any, rtol: Any) -> dict[str, float]:
    """The user's ``atol``/``rtol`` (positive finite numbers), as recorded in the report."""
    out = {}
    for name, value in (("atol", atol), ("rtol", rtol)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            np.isfinite(value) and value > 0
        ):
            raise OracleError(f"{name}: expected a positive finite number, got {value!r}")
        out[name] = float(value)
    return out


@dataclass(frozen=True)
class _Outcome:
    case: Case
    scale: float
    results: dict[str, GradientResult]
    ratios: dict[str, float]
    loss: LossResult | None
    steps: tuple[StepResult, ...] | None
    reason: str | None = None  #: why the whole case could not be judged


def _check_case(
    tgt: Target,
    layout: Layout,
    case: Case,
    scale: float,
    diagnose_failures: bool,
    overrides: dict[str, float],
) -> _Outcome:
    evaluation = tgt.evaluate(case, layout)
    case64 = case.astype("float64")
    ref = reference(case64, "numpy", "bptt").numpy()
    unrepresentable = representable({**ref.grads, "loss": ref.loss}, case.dtype)
    bnd = None if unrepresentable else bounds(case, ref, **overrides)
    pool = HypothesisPool(case64, ref, layout)
    names = tuple(evaluation.grads)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name in names:
        result, ratio = _judge_gradient(
            name, evaluation, pool, bnd, case, names, diagnose_failures, unrepresentable
        )
        results[name] = result
        ratios[name] = ratio
    loss = None
    if tgt.mode == "model":
        loss = _judge_loss(evaluation, ref, bnd, case, diagnose_failures, unrepresentable)
    steps = None
    if bnd is not None and "inputs" in results and results["inputs"].verdict in ("ok", "wrong"):
        steps = _steps(layout, evaluation.grads["inputs"], pool, bnd)
    return _Outcome(case, scale, results, ratios, loss, steps, unrepresentable)


def _judge_gradient(
    name: str,
    ev: Evaluation,
    pool: HypothesisPool,
    bnd: Bounds | None,
    case: Case,
    names: tuple[str, ...],
    diagnose_failures: bool,
    unrepresentable: str | None,
) -> tuple[GradientResult, float]:
    lay = pool.layout
    got = ev.grads[name]
    R = pool.reference_user(name)
    canonical = lay.canonical(name)
    atol, rtol = (np.inf, np.inf) if bnd is None else (bnd.atol[canonical], bnd.rtol)
    common: dict[str, Any] = {
        "name": name,
        "mapping": lay.describe(name),
        "shape": tuple(R.shape),
        "seed": case.seed,
        "atol": atol,
        "rtol": rtol,
        "reference": R,
    }
    if got.shape != R.shape:
        implied = (
            f"convention {lay.convention.name!r} maps {name!r} to {lay.describe(name)}, which "
            f"implies shape {tuple(R.shape)}; got {tuple(got.shape)}"
        )
        shaped = diagnose(got, R, pool.candidates(name, names, got), atol, rtol)
        if shaped.cause == "unknown":
            raise OracleError(f"grads[{name!r}]: {implied}")
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
    diag: Diagnosis | None = None
    ref_steps = pool.per_step_user(name)
    if diagnose_failures:
        diag = diagnose(
            got, R, pool.candidates(name, names, got), atol, rtol, reference_steps=ref_steps
        )
    step, basis = _step_of(lay, name, j.worst_index, ref_steps, diag, case)
    message = (
        f"{j.n_failed} of {got.size} entries wrong; worst at {list(j.worst_index)}: got "
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


def _step_of(
    lay: Layout,
    name: str,
    index: tuple[int, ...],
    ref_steps: np.ndarray | None,
    diag: Diagnosis | None,
    case: Case,
) -> tuple[int | None, str | None]:
    """The time step the worst entry's error belongs to."""
    if name == "inputs":
        batch_major = lay.convention.sequence_layout == "batch_major" and case.batch is not None
        return index[1 if batch_major else 0], "the input's own time step"
    if ref_steps is None:
        return None, None
    where: Any = (slice(None), *index)
    column = ref_steps[where]
    if diag is not None and diag.step_candidate is not None:
        deviation = np.abs(diag.step_candidate[where] - column)
        if np.any(deviation > 0):
            return int(np.argmax(deviation)), "where the diagnosed slip changes this entry most"
    return int(np.argmax(np.abs(column))), "the step contributing most to this entry"


def _judge_loss(
    ev: Evaluation,
    ref: Reference,
    bnd: Bounds | None,
    case: Case,
    diagnose_failures: bool,
    unrepresentable: str | None,
) -> LossResult:
    assert ev.loss is not None
    expected = float(np.asarray(ref.loss))
    got = ev.loss
    if bnd is None or bnd.loss_atol is None:
        return LossResult(value=got, expected=expected, abs_error=abs(got - expected),
                          rel_error=float("nan"), atol=float("inf"), rtol=float("inf"),
                          verdict="inconclusive", seed=case.seed, reason=unrepresentable)
    j = judge(np.asarray([got]), np.asarray([expected]), bnd.loss_atol, bnd.rtol)
    verdict = "ok" if j.passed else ("non-finite" if not np.isfinite(got) else "wrong")
    reason = None
    if verdict == "ok":
        reason = discriminates(np.asarray([expected]), bnd.loss_atol, bnd.rtol,
                               [("negated", -np.asarray([expected]))])
        verdict = "ok" if reason is None else "inconclusive"
    diag = None
    if verdict == "wrong" and diagnose_failures:
        diag = diagnose_loss(got, expected, case, bnd.loss_atol, bnd.rtol)
    return LossResult(
        value=got,
        expected=expected,
        abs_error=j.max_abs,
        rel_error=j.max_rel,
        atol=bnd.loss_atol,
        rtol=bnd.rtol,
        verdict=verdict,
        seed=case.seed,
        diagnosis=diag,
        reason=reason,
    )


def _steps(
    lay: Layout, got_inputs: np.ndarray, pool: HypothesisPool, bnd: Bounds
) -> tuple[StepResult, ...]:
    got = lay.to_canonical("inputs", got_inputs)
    expected = np.asarray(pool.ref.grads["inputs"])
    return tuple(
        StepResult(t=t, ratio=ratio, passed=passed)
        for t, (ratio, passed) in enumerate(
            step_judgements(got, expected, bnd.atol["inputs"], bnd.rtol)
        )
    )


def _aggregate(
    tgt: Target, layout: Layout, outcomes: list[_Outcome], cases: int,
    overrides: dict[str, float],
) -> GradientReport:
    gradients = aggregate_gradients(outcomes, cases)
    losses = [o.loss for o in outcomes if o.loss is not None]
    loss = None
    if losses:
        judged = [r for r in losses if r.verdict != "inconclusive"] or losses
        loss = max(judged, key=lambda r: (not r.passed, r.abs_error / max(r.atol, 1e-300)))
    steps, starts = worst_steps(outcomes)
    return GradientReport(
        passed=_passed(gradients, loss),
        target=tgt.description,
        convention=tgt.convention.name,
        mode=tgt.mode,
        dtype=outcomes[0].case.dtype,
        spec=layout.spec,
        cases=tuple(case_info(o, o.loss) for o in outcomes),
        gradients=tuple(gradients),
        loss=loss,
        steps=steps,
        disagreement_starts=starts,
        summary=summary(_passed(gradients, loss), gradients, loss, len(outcomes)),
        overrides=overrides,
    )


def _passed(gradients: Sequence[GradientResult], loss: LossResult | None) -> bool:
    return all(g.passed for g in gradients) and (loss is None or loss.passed)


def case_info(outcome: Any, loss: LossResult | None = None) -> CaseInfo:
    """What the report says of one drawn case (shared with the network check)."""
    results = list(outcome.results.values())
    inconclusive = [r for r in results if r.verdict == "inconclusive"]
    wrong = [r for r in results if not r.passed and r.verdict != "inconclusive"]
    loss_wrong = loss is not None and loss.verdict not in ("ok", "inconclusive")
    reason = getattr(outcome, "reason", None) or next(
        (r.inconclusive_reason for r in inconclusive), None
    )
    return CaseInfo(
        seed=int(outcome.case.seed or 0),
        seq_len=outcome.case.seq_len,
        batch=outcome.case.batch,
        scale=outcome.scale,
        passed=not wrong and not loss_wrong,
        judged=len(results) - len(inconclusive),
        inconclusive=len(inconclusive),
        reason=reason,
    )


def worst_steps(
    outcomes: Sequence[Any],
) -> tuple[tuple[StepResult, ...] | None, int | None]:
    """The per-step results of the outcome whose inputs' gradient is worst, and the last
    failing step (where the disagreement starts, going backward in time)."""
    with_steps = [o for o in outcomes if o.steps is not None]
    if not with_steps:
        return None, None
    steps: tuple[StepResult, ...] = max(
        with_steps, key=lambda o: o.ratios.get("inputs", 0.0)
    ).steps
    bad = [s.t for s in steps if not s.passed]
    return steps, max(bad) if bad else None


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


class GradientMismatch(AssertionError):
    """Raised by :func:`assert_gradients_match`; ``.report`` holds the full report."""

    def __init__(self, report: GradientReport) -> None:
        super().__init__(str(report))
        self.report = report


def assert_gradients_match(target: Any, **options: Any) -> GradientReport:
    """:func:`check_gradients`, raising :class:`GradientMismatch` (an ``AssertionError``)
    carrying the report when any gradient is wrong; returns the report when all agree."""
    report = check_gradients(target, **options)
    if not report.passed:
        raise GradientMismatch(report)
    return report
