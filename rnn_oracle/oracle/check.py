"""``check_gradients``: run a target on random cases, judge every gradient against the
float64 hand-BPTT reference, and diagnose what is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.case import FLOAT_DTYPES, Case, make_case
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.diagnosis import Diagnosis, HypothesisPool, diagnose, diagnose_loss
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.policy import Bounds, Judgement, bounds, judge
from rnn_oracle.oracle.report import (
    CaseInfo,
    GradientReport,
    GradientResult,
    LossResult,
    StepResult,
)
from rnn_oracle.oracle.targets import Evaluation, Target, as_target
from rnn_oracle.params import ParamConvention
from rnn_oracle.reference import reference
from rnn_oracle.spec import RNNSpec

#: Case schedule, cycled: lengths and weight scales vary so that a slip which one case
#: hides (a clip that does not bite, a truncation whose tail has vanished) shows in another.
SEQ_LENS: tuple[int, ...] = (7, 12, 25, 9, 16, 5)
SCALES: tuple[float, ...] = (1.0, 1.5, 1.0, 2.0, 0.7, 1.2)
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
) -> GradientReport:
    """Check the gradients of ``target`` on ``cases`` random cases.

    Args:
        target: a function in the model-mode protocol
            ``target(params, inputs, targets, h0) -> (loss, grads)`` or the layer-mode
            protocol ``target(params, inputs, h0, upstream) -> grads``; a
            ``torch.nn.Module`` with ``nn.RNN``'s parameter names; or a
            ``flax.linen.SimpleCell`` (modules and cells run in layer mode).
        convention: the names, shapes and data layout ``target`` uses: a preset
            (``"karpathy"``, ``"cs231n"``, …), a mapping such as ``{"Wx": "W_xh.T"}``, or a
            :class:`~rnn_oracle.ParamConvention`. Not given for modules and cells.
        spec: the network (cell, sizes, head, loss sign, reductions). Default: a tanh RNN
            with ``n_x, n_h, n_y = 3, 5, 4``, softmax cross-entropy summed over time and
            batch (the convention may imply other defaults; modules give their sizes).
            Layer mode uses the spec's cell and sizes only.
        mode: ``"model"`` (default for functions) or ``"layer"``.
        cases: how many random cases.
        dtype: ``"float64"`` or ``"float32"``: the dtype of the arrays the target gets
            and must return.
        seed: seed of the first case (case ``i`` uses ``seed + i``).
        seq_len: fixed T for every case (default: a schedule of 7, 12, 25, 9, …).
        batch: batch size, ``None`` for unbatched; default 3 for row-vector conventions
            and unbatched for column-vector ones.
        scale: fixed weight scale (default: a schedule around 1; 3 saturates tanh).
        diagnose_failures: test the named hypotheses on every failing gradient.

    Raises:
        OracleError: bad input or a protocol error (the target raised, returned the wrong
            structure, names, shape or dtype).

    A torch ``nn.GRU``/``nn.LSTM``, an ``nn.RNN`` with ``num_layers > 1`` or
    ``bidirectional=True``, a Flax ``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``, and a
    function given with a :class:`~rnn_oracle.architectures.NetworkSpec` are checked by
    :func:`~rnn_oracle.oracle.network_check.check_network_gradients` (layer mode, per layer
    and direction).
    """
    from rnn_oracle.oracle.network_targets import is_network_module

    if is_network_module(target) or isinstance(spec, NetworkSpec):
        from rnn_oracle.oracle.network_check import check_network_target

        return check_network_target(
            target, convention=convention, spec=spec, mode=mode, cases=cases, dtype=dtype,
            seed=seed, seq_len=seq_len, batch=batch, scale=scale,
            diagnose_failures=diagnose_failures,
        )
    tgt = as_target(target, convention=convention, mode=mode)
    resolved = tgt.resolve_spec(spec)
    layout = Layout(tgt.convention, resolved)
    check_options(cases, dtype, seed)
    if batch == "auto":
        batch = None if tgt.convention.vectors == "column" else DEFAULT_BATCH
    if batch is not None and tgt.convention.state_shape == "column":
        raise OracleError(
            f"batch: convention {tgt.convention.name!r} uses column vectors, which have no "
            f"batch axis; got batch = {batch}"
        )
    outcomes = []
    for i in range(cases):
        used_scale = scale if scale is not None else SCALES[i % len(SCALES)]
        case = make_case(
            resolved,
            seq_len if seq_len is not None else SEQ_LENS[i % len(SEQ_LENS)],
            batch,  # type: ignore[arg-type]
            seed + i,
            dtype,
            scale=used_scale,
        )
        case = tgt.prepare(case)
        outcomes.append(_check_case(tgt, layout, case, used_scale, diagnose_failures))
    return _aggregate(tgt, layout, outcomes)


def check_options(cases: Any, dtype: Any, seed: Any) -> None:
    """Refuse a bad ``cases``, ``dtype`` or ``seed`` (shared with
    :func:`~rnn_oracle.oracle.network_check.check_network_gradients`)."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise OracleError(f"cases: expected a positive number of cases, got {cases!r}")
    if dtype not in FLOAT_DTYPES:
        raise OracleError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OracleError(f"seed: expected a non-negative integer, got {seed!r}")


@dataclass(frozen=True)
class _Outcome:
    case: Case
    scale: float
    results: dict[str, GradientResult]
    ratios: dict[str, float]
    loss: LossResult | None
    steps: tuple[StepResult, ...] | None


def _check_case(
    tgt: Target, layout: Layout, case: Case, scale: float, diagnose_failures: bool
) -> _Outcome:
    evaluation = tgt.evaluate(case, layout)
    case64 = case.astype("float64")
    ref = reference(case64, "numpy", "bptt").numpy()
    bnd = bounds(case, ref)
    pool = HypothesisPool(case64, ref, layout)
    names = tuple(evaluation.grads)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name in names:
        result, ratio = _judge_gradient(
            name, evaluation, pool, bnd, case, names, diagnose_failures
        )
        results[name] = result
        ratios[name] = ratio
    loss = None
    if tgt.mode == "model":
        loss = _judge_loss(evaluation, ref, bnd, case, diagnose_failures)
    steps = None
    if "inputs" in results and results["inputs"].verdict in ("ok", "wrong"):
        steps = _steps(layout, evaluation.grads["inputs"], pool, bnd)
    return _Outcome(case, scale, results, ratios, loss, steps)


def _judge_gradient(
    name: str,
    ev: Evaluation,
    pool: HypothesisPool,
    bnd: Bounds,
    case: Case,
    names: tuple[str, ...],
    diagnose_failures: bool,
) -> tuple[GradientResult, float]:
    lay = pool.layout
    got = ev.grads[name]
    R = pool.reference_user(name)
    canonical = lay.canonical(name)
    atol, rtol = bnd.atol[canonical], bnd.rtol
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
    if not np.all(np.isfinite(got)):
        return non_finite_result(got, R, common), float("inf")
    j = judge(got, R, atol, rtol)
    fields = judged_fields(j, got)
    if j.passed:
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
    ev: Evaluation, ref: Reference, bnd: Bounds, case: Case, diagnose_failures: bool
) -> LossResult:
    assert ev.loss is not None and bnd.loss_atol is not None
    expected = float(np.asarray(ref.loss))
    got = ev.loss
    j = judge(np.asarray([got]), np.asarray([expected]), bnd.loss_atol, bnd.rtol)
    verdict = "ok" if j.passed else ("non-finite" if not np.isfinite(got) else "wrong")
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
    )


def _steps(
    lay: Layout, got_inputs: np.ndarray, pool: HypothesisPool, bnd: Bounds
) -> tuple[StepResult, ...]:
    got = lay.to_canonical("inputs", got_inputs)
    expected = np.asarray(pool.ref.grads["inputs"])
    out = []
    for t in range(got.shape[0]):
        j = judge(got[t], expected[t], bnd.atol["inputs"], bnd.rtol)
        out.append(StepResult(t=t, ratio=j.ratio, passed=j.passed))
    return tuple(out)


def _aggregate(tgt: Target, layout: Layout, outcomes: list[_Outcome]) -> GradientReport:
    names = list(outcomes[0].results)
    for o in outcomes[1:]:
        names += [n for n in o.results if n not in names]
    gradients = []
    for name in names:
        per_case = [o for o in outcomes if name in o.results]
        worst = max(per_case, key=lambda o: (not o.results[name].passed, o.ratios[name]))
        result = worst.results[name]
        failing = [o.results[name] for o in per_case if not o.results[name].passed]
        cause = result.diagnosis.cause if result.diagnosis else None
        agreeing = sum(1 for r in failing if r.diagnosis and r.diagnosis.cause == cause)
        gradients.append(replace(result, failing_cases=len(failing), agreeing_cases=agreeing))
    losses = [o.loss for o in outcomes if o.loss is not None]
    loss = None
    if losses:
        loss = max(losses, key=lambda r: (not r.passed, r.abs_error / max(r.atol, 1e-300)))
    steps, starts = worst_steps(outcomes)
    passed = all(g.passed for g in gradients) and (loss is None or loss.passed)
    infos = tuple(
        CaseInfo(
            seed=int(o.case.seed or 0),
            seq_len=o.case.seq_len,
            batch=o.case.batch,
            scale=o.scale,
            passed=all(r.passed for r in o.results.values()) and (o.loss is None or o.loss.passed),
        )
        for o in outcomes
    )
    return GradientReport(
        passed=passed,
        target=tgt.description,
        convention=tgt.convention.name,
        mode=tgt.mode,
        dtype=outcomes[0].case.dtype,
        spec=layout.spec,
        cases=infos,
        gradients=tuple(gradients),
        loss=loss,
        steps=steps,
        disagreement_starts=starts,
        summary=summary(passed, gradients, loss, len(outcomes)),
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
        return f"PASS: all {len(gradients)} gradients agree with the reference on {n_cases} case(s)"
    bad = [g for g in gradients if not g.passed]
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
    if loss is not None and not loss.passed:
        text += f". The loss is wrong too ({loss.verdict}"
        text += f": {loss.diagnosis.cause})" if loss.diagnosis else ")"
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
