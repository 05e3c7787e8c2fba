"""``check_gradients``: run a target on random cases, judge every gradient against the
float64 hand-BPTT reference, and diagnose what is wrong.

One check for every target. A case is drawn (:mod:`rnn_oracle.oracle.schedule`), the
target evaluated on it, the float64 reference computed, and every array judged by
:func:`~rnn_oracle.oracle.verdict.judge_array` under the policy's bounds; the outcomes add
up to one :class:`~rnn_oracle.GradientReport`. What differs between a single layer in a
named convention and a layer stack (a torch module, a Flax cell, a function in canonical
or torch names) is only the case, the reference and the bounds: the single layer's term
scales and model-mode loss, a stack's per-entry drift over each user view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rnn_oracle._reference import reference
from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.frameworks import framework_of
from rnn_oracle.architectures.reference import checking_reference
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.case import FLOAT_DTYPES, Case, make_case
from rnn_oracle.compare import tolerance
from rnn_oracle.derivations.base import Reference
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.diagnosis import Diagnosis, diagnose_loss, locate
from rnn_oracle.oracle.hypotheses import HypothesisPool, NetworkHypotheses
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.policy import (
    Bounds,
    bounds,
    combine,
    discriminates,
    judge,
    measured_drift,
    representable,
    step_judgements,
)
from rnn_oracle.oracle.report import GradientReport, GradientResult, LossResult, StepResult, summary
from rnn_oracle.oracle.schedule import (
    Draw,
    aggregate_gradients,
    case_info,
    check_budget,
    run_schedule,
    worst_steps,
)
from rnn_oracle.oracle.targets import (
    Evaluation,
    NetworkTarget,
    Target,
    UserArray,
    as_network_target,
    as_target,
    check_precision,
)
from rnn_oracle.oracle.verdict import judge_array
from rnn_oracle.params import ParamConvention
from rnn_oracle.spec import RNNSpec

#: Case schedule, cycled: lengths and weight scales vary so that a slip which one case
#: hides (a clip that does not bite, a truncation whose tail has vanished) shows in another;
#: the second case is long (T = 64), where slips in the recurrence live.
SEQ_LENS: tuple[int, ...] = (7, 64, 25, 9, 16, 5)
SCALES: tuple[float, ...] = (1.5, 1.0, 1.0, 2.0, 0.7, 1.2)
#: The third case's data is the same at every step, so its gradients add up over time
#: instead of cancelling: verbatim min-char-rnn clips at ±5, and on random data its largest
#: gradient stayed near 4 — the clip never bit, and a wrong answer passed.
COHERENT: tuple[bool, ...] = (False, False, True, False, False, False)
DEFAULT_BATCH = 3
#: A layer stack's schedule: shorter between the long cases, since a gated stack of
#: several blocks costs many single layers per step.
NETWORK_SEQ_LENS: tuple[int, ...] = (5, 64, 3, 8, 6)
NETWORK_SCALES: tuple[float, ...] = (1.0, 0.8, 1.5, 1.2, 1.0)
NETWORK_COHERENT: tuple[bool, ...] = (False, False, True, False, False)
NETWORK_BATCH = 2


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
    strict_dtype: bool = False,
    names: Mapping[str, str] | None = None,
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
        strict_dtype: refuse gradients computed in float64 for a float32 case (by default
            they are accepted, with a note in the report: more precise than the bound
            assumes, so the verdict holds).
        names: a torch module's own parameter names -> torch's (``weight_hh_l0``) or
            canonical ones (``layer0.forward.W_hh``), where they are not torch's; inferred
            when the shapes decide.

    Returns:
        the report; ``report.verdict`` is ``"right"``, ``"wrong"`` or ``"inconclusive"``
        (no case could judge some gradient: never counted as right).

    Raises:
        OracleError: bad input or a protocol error (the target raised, returned the wrong
            structure, names, shape or dtype).

    Every torch module and Flax cell (a one-layer ``nn.RNN`` is the smallest layer stack),
    and a function given with a :class:`~rnn_oracle.architectures.NetworkSpec`, are checked
    by :func:`check_network_gradients` (layer mode, per
    layer and direction).
    """
    if framework_of(target) is not None or isinstance(spec, NetworkSpec):
        return _check_network_target(
            target, convention=convention, spec=spec, mode=mode, cases=cases, dtype=dtype,
            seed=seed, seq_len=seq_len, batch=batch, scale=scale,
            diagnose_failures=diagnose_failures, atol=atol, rtol=rtol, max_cases=max_cases,
            strict_dtype=strict_dtype, **({} if names is None else {"names": names}),
        )
    if names is not None:
        raise OracleError(
            "names: maps a torch module's own parameter names; a function's names are given "
            "by convention= (or, with a NetworkSpec, are canonical)"
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
                         scale=draw.scale, coherent=draw.coherent)
        case = tgt.prepare(case)
        return _check_case(tgt, layout, case, draw, diagnose_failures, overrides, strict_dtype)

    outcomes = run_schedule(
        check_case, cases=cases, budget=budget, seed=seed, seq_len=seq_len, scale=scale,
        seq_lens=SEQ_LENS, scales=SCALES, coherent=COHERENT,
    )
    return _aggregate(outcomes, cases, overrides, target=tgt.description,
                      convention=tgt.convention.name, mode=tgt.mode, spec=layout.spec)


def check_options(cases: Any, dtype: Any, seed: Any) -> None:
    """Refuse a bad ``cases``, ``dtype`` or ``seed``."""
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
    """One drawn case's verdicts (a single layer's :class:`Case` or a network's)."""

    case: Case | NetworkCase
    draw: Draw  #: how it was drawn (seed, length, scale, coherent data)
    results: dict[str, GradientResult]
    ratios: dict[str, float]
    loss: LossResult | None  #: model mode only
    steps: tuple[StepResult, ...] | None
    reason: str | None = None  #: why the whole case could not be judged
    wider: tuple[str, ...] = ()  #: arrays that came back in float64 for a float32 case


def _check_case(
    tgt: Target,
    layout: Layout,
    case: Case,
    draw: Draw,
    diagnose_failures: bool,
    overrides: dict[str, float],
    strict_dtype: bool,
) -> _Outcome:
    evaluation = tgt.evaluate(case, layout)
    wider = check_precision(evaluation.grads, case.dtype, strict_dtype, tgt.description)
    case64 = case.astype("float64")
    ref = reference(case64, "numpy", "bptt").numpy()
    unrepresentable = representable({**ref.grads, "loss": ref.loss}, case.dtype)
    bnd = None if unrepresentable else bounds(case, ref, **overrides)
    pool = HypothesisPool(case64, ref, layout)
    names = tuple(evaluation.grads)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name in names:
        results[name], ratios[name] = _judge_gradient(
            name, evaluation, pool, bnd, case, names, diagnose_failures, unrepresentable
        )
    loss = None
    if tgt.mode == "model":
        loss = _judge_loss(evaluation, ref, bnd, case, diagnose_failures, unrepresentable)
    steps = None
    if bnd is not None and "inputs" in results and results["inputs"].verdict in ("ok", "wrong"):
        steps = _steps(layout, evaluation.grads["inputs"], pool, bnd)
    return _Outcome(case, draw, results, ratios, loss, steps, unrepresentable, wider)


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
        "name": name, "mapping": lay.describe(name), "shape": tuple(R.shape), "seed": case.seed,
        "atol": atol, "rtol": rtol, "reference": R,
    }
    ref_steps = pool.per_step_user(name)
    return judge_array(
        got, R, common=common, atol=atol, rtol=rtol, case=case,
        candidates=lambda: pool.candidates(name, names, got),
        diagnose_failures=diagnose_failures, unrepresentable=unrepresentable,
        implied=f"convention {lay.convention.name!r} maps {name!r} to {lay.describe(name)}, "
                f"which implies shape {tuple(R.shape)}; got {tuple(got.shape)}",
        reference_steps=ref_steps,
        step_of=lambda index, diag: _step_of(lay, name, index, ref_steps, diag, case),
    )


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
    outcomes: list[_Outcome],
    cases: int,
    overrides: dict[str, float],
    *,
    target: str,
    convention: str,
    mode: str,
    spec: RNNSpec | NetworkSpec,
) -> GradientReport:
    gradients = aggregate_gradients(outcomes, cases)
    losses = [o.loss for o in outcomes if o.loss is not None]
    loss = None
    if losses:
        judged = [r for r in losses if r.verdict != "inconclusive"] or losses
        loss = max(judged, key=lambda r: (not r.passed, r.abs_error / max(r.atol, 1e-300)))
    steps, starts = worst_steps(outcomes)
    passed = _passed(gradients, loss)
    wider = sorted({n for o in outcomes for n in o.wider})
    notes = () if not wider else (
        f"{', '.join(wider)} came back in float64 for {outcomes[0].case.dtype} cases: "
        "accepted (more precise than the bound assumes); strict_dtype=True refuses it",)
    return GradientReport(
        passed=passed,
        target=target,
        convention=convention,
        mode=mode,
        dtype=outcomes[0].case.dtype,
        spec=spec,
        cases=tuple(case_info(o, o.loss) for o in outcomes),
        gradients=tuple(gradients),
        loss=loss,
        steps=steps,
        disagreement_starts=starts,
        summary=summary(passed, gradients, loss, len(outcomes)),
        overrides=overrides,
        notes=notes,
    )


def _passed(gradients: Sequence[GradientResult], loss: LossResult | None) -> bool:
    return all(g.passed for g in gradients) and (loss is None or loss.passed)


def check_network_gradients(
    target: Any,
    *,
    spec: NetworkSpec | None = None,
    names: str | Mapping[str, str] = "canonical",
    batch_first: bool = False,
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
    strict_dtype: bool = False,
) -> GradientReport:
    """Check the layer-mode gradients of a recurrent layer stack on ``cases`` random cases.

    Args:
        target: a ``torch.nn.RNN``/``GRU``/``LSTM`` (any ``num_layers``, ``bidirectional``,
            ``batch_first``, ``bias``) or a torch module with their parameter names, a Flax
            ``SimpleCell``/``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``, or a function
            ``fn(params, inputs, initial_states, upstream) -> grads``
            (:class:`~rnn_oracle.oracle.targets.NetworkFunctionTarget`).
        spec: the network; required for functions (architecture many_to_many, stacked,
            bidirectional or deep_bidirectional; head, reductions and sign are set to layer
            mode's), optional for modules (checked against the module; gives ``n_x`` for a
            Flax cell, default 3).
        names: a function's names: ``"canonical"`` (``layer1.backward.W_hh``, …) or
            ``"torch"`` (``weight_hh_l1_reverse``, …, stacked ``h0``); for a torch module
            whose parameters have names of their own, a mapping of them to torch's or
            canonical names (inferred when the shapes decide).
        batch_first: with ``names="torch"``: inputs, upstream and the inputs' gradient are
            ``(B, T, …)``.
        cases: how many judgements each gradient needs (as for
            :func:`~rnn_oracle.check_gradients`; inconclusive cases are replaced).
        dtype: ``"float64"`` or ``"float32"``.
        seed: seed of the first case.
        seq_len: fixed T for every case (default lengths 5, 64, 3, 8, …).
        scale: fixed weight scale (default: a schedule around 1).
        diagnose_failures: test the named hypotheses on every failing gradient.
        batch: batch size, ``None`` for unbatched sequences; default 2.
        atol: an absolute bound instead of the policy's; recorded in the report.
        rtol: a relative bound instead of the policy's; recorded in the report.
        max_cases: draws allowed, replacements included (default ``4 × cases``).
        strict_dtype: as for :func:`check_gradients`.

    Returns:
        a :class:`~rnn_oracle.GradientReport` whose gradients carry the user's names and,
        as ``mapping``, the canonical array each is a view of.
    """
    tgt = as_network_target(target, spec, names, batch_first)
    check_options(cases, dtype, seed)
    overrides = check_overrides(atol, rtol)
    budget = check_budget(max_cases, cases)
    if batch == "auto":
        batch = NETWORK_BATCH
    arrays = tgt.user_arrays()

    def check_case(draw: Draw) -> _Outcome:
        case = make_network_case(tgt.spec, draw.seq_len, batch, draw.seed,  # type: ignore[arg-type]
                                 dtype, scale=draw.scale, coherent=draw.coherent)
        case = tgt.prepare(case)
        return _check_network_case(tgt, arrays, case, draw, diagnose_failures, overrides,
                                   strict_dtype)

    outcomes = run_schedule(
        check_case, cases=cases, budget=budget, seed=seed, seq_len=seq_len, scale=scale,
        seq_lens=NETWORK_SEQ_LENS, scales=NETWORK_SCALES, coherent=NETWORK_COHERENT,
    )
    return _aggregate(outcomes, cases, overrides, target=f"{tgt.description} [{tgt.spec.label}]",
                      convention=tgt.convention, mode="layer", spec=tgt.spec)


def _check_network_target(
    target: Any, *, convention: Any, spec: Any, mode: str | None, **options: Any
) -> GradientReport:
    """:func:`~rnn_oracle.check_gradients`'s route to :func:`check_network_gradients`:
    refuses the options that have no meaning for a layer stack."""
    if convention is not None:
        raise OracleError(
            f"convention: a module's names are read from it (a function given a "
            f"NetworkSpec uses canonical names; check_network_gradients(..., names='torch') "
            f"gives torch's); leave convention out, got {convention!r}"
        )
    if mode not in (None, "layer"):
        raise OracleError(f"mode: a network target is checked in layer mode, got {mode!r}")
    if spec is not None and not isinstance(spec, NetworkSpec):
        raise OracleError(
            f"spec: a torch module or a Flax cell takes a NetworkSpec (or none: it gives its "
            f"own sizes and cell), got {type(spec).__name__}"
        )
    return check_network_gradients(target, spec=spec, **options)


def _check_network_case(
    tgt: NetworkTarget,
    arrays: dict[str, UserArray],
    case: NetworkCase,
    draw: Draw,
    diagnose_failures: bool,
    overrides: dict[str, float],
    strict_dtype: bool,
) -> _Outcome:
    got_all = tgt.evaluate(case)
    wider = check_precision(got_all, case.dtype, strict_dtype, tgt.description)
    missing = [n for n, ua in arrays.items() if ua.required and n not in got_all]
    if missing:
        raise OracleError(f"{tgt.description}: no gradient for {missing}")
    case64 = case.astype("float64")
    ref = {k: np.asarray(v) for k, v in checking_reference(case64).grads.items()}
    unrepresentable = representable(ref, case.dtype)
    rtol = overrides.get("rtol", tolerance(case.dtype, case.steps))
    drift = None if unrepresentable else measured_drift(case, _rerun, ref, per_entry=True)
    pool = NetworkHypotheses(case64, ref, arrays)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name, ua in arrays.items():
        if name not in got_all:
            continue  # an optional initial state's gradient, not returned
        atol = overrides.get("atol", 0.0)
        if drift is not None and "atol" not in overrides:
            atol = combine(rtol, float(np.max(np.abs(ref[ua.canonical]), initial=0.0)),
                           float(np.max(ua.from_canonical(drift), initial=0.0)))
        got, R = got_all[name], ua.from_canonical(ref)
        results[name], ratios[name] = judge_array(
            got, R, atol=atol, rtol=rtol, case=case, diagnose_failures=diagnose_failures,
            unrepresentable=unrepresentable, where=locate(ua.canonical),
            common={"name": ua.name, "mapping": ua.mapping, "shape": tuple(R.shape),
                    "seed": case.seed, "atol": atol, "rtol": rtol, "reference": R},
            candidates=partial(pool.candidates, ua, got),
            gate_map=partial(pool.gate_map, ua),
            implied=f"{ua.name!r} is {ua.mapping} ({locate(ua.canonical)}), of shape "
                    f"{tuple(R.shape)}; got {tuple(got.shape)}",
        )
    steps = None
    if "inputs" in results and results["inputs"].verdict in ("ok", "wrong"):
        ua = arrays["inputs"]
        got = got_all["inputs"]
        got_tm = np.swapaxes(got, 0, 1) if ua.batch_first and got.ndim == 3 else got
        r = results["inputs"]
        steps = tuple(
            StepResult(t=t, ratio=ratio, passed=passed)
            for t, (ratio, passed) in enumerate(
                step_judgements(got_tm, ref["inputs"], r.atol, r.rtol)
            )
        )
    return _Outcome(case, draw, results, ratios, None, steps, unrepresentable, wider)


def _rerun(case: NetworkCase) -> dict[str, np.ndarray]:
    grads = checking_reference(case).grads
    return {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}


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
