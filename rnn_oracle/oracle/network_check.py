"""``check_network_gradients``: check a recurrent layer stack in layer mode — a torch
``nn.RNN``/``GRU``/``LSTM`` (one layer or many, either direction count), a Flax
``SimpleCell``/``GRUCell``/``LSTMCell``, or a hand-written backward — against the float64
hand-BPTT reference of :mod:`rnn_oracle.architectures`, and say per layer and direction
what is wrong.

Tolerance: the one policy of :mod:`rnn_oracle.oracle.policy` — ``rtol = tolerance(dtype,
T)`` and ``atol = max(rtol · max |R_c|, F · D)`` with ``R_c`` the whole canonical reference
array a user array is a view of, and ``D`` the measured drift of ε-perturbed hand-BPTT
reruns in the case's dtype (entry by entry, then the largest over the user's view). A pass
counts only on a case that can tell the gradient from the wrong answers the oracle knows;
others are inconclusive and replaced (:mod:`rnn_oracle.oracle.schedule`).

Measured: correct torch modules in float64 agree to about ``1e-15`` of ``max |R|``; where
an array's entries cancel (``nn.RNN(4, 1, num_layers=3)``), torch and the hand BPTT differ
by ``3.8e-16`` against a maximum of ``5e-9``, which the drift, not ``1e-10 · max |R|``,
allows for. Every slip the diagnosis names moves entries by ``O(|R|)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.reference import network_reference
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.compare import tolerance
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.check import (
    case_info,
    cheap_alternatives,
    check_options,
    check_overrides,
    judged_fields,
    non_finite_result,
    summary,
    worst_steps,
)
from rnn_oracle.oracle.diagnosis import diagnose, locate
from rnn_oracle.oracle.hypotheses import NetworkHypotheses
from rnn_oracle.oracle.network_targets import NetworkTarget, UserArray, as_network_target
from rnn_oracle.oracle.policy import (
    combine,
    discriminates,
    judge,
    measured_drift,
    representable,
    step_judgements,
    underflows,
)
from rnn_oracle.oracle.report import GradientReport, GradientResult, StepResult
from rnn_oracle.oracle.schedule import (
    Draw,
    aggregate_gradients,
    check_budget,
    inconclusive_result,
    run_schedule,
)

#: Case schedule, cycled: lengths and weight scales vary from case to case; the second
#: case is long (T = 64), where slips in the recurrence live.
SEQ_LENS: tuple[int, ...] = (5, 64, 3, 8, 6)
SCALES: tuple[float, ...] = (1.0, 0.8, 1.5, 1.2, 1.0)
DEFAULT_BATCH = 2


@dataclass(frozen=True)
class _Outcome:
    case: NetworkCase
    scale: float
    results: dict[str, GradientResult]
    ratios: dict[str, float]
    steps: tuple[StepResult, ...] | None
    reason: str | None = None  #: why the whole case could not be judged


def check_network_gradients(
    target: Any,
    *,
    spec: NetworkSpec | None = None,
    names: str = "canonical",
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
) -> GradientReport:
    """Check the layer-mode gradients of a recurrent layer stack on ``cases`` random cases.

    Args:
        target: a ``torch.nn.RNN``/``GRU``/``LSTM`` (any ``num_layers``, ``bidirectional``,
            ``batch_first``, ``bias``) or a torch module with their parameter names, a Flax
            ``SimpleCell``/``GRUCell``/``LSTMCell``/``OptimizedLSTMCell``, or a function
            ``fn(params, inputs, initial_states, upstream) -> grads``
            (:class:`~rnn_oracle.oracle.network_targets.NetworkFunctionTarget`).
        spec: the network; required for functions (architecture many_to_many, stacked,
            bidirectional or deep_bidirectional; head, reductions and sign are set to layer
            mode's), optional for modules (checked against the module; gives ``n_x`` for a
            Flax cell, default 3).
        names: a function's names: ``"canonical"`` (``layer1.backward.W_hh``, …) or
            ``"torch"`` (``weight_hh_l1_reverse``, …, stacked ``h0``).
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

    Returns:
        a :class:`~rnn_oracle.GradientReport` whose gradients carry the user's names and,
        as ``mapping``, the canonical array each is a view of.
    """
    tgt = as_network_target(target, spec, names, batch_first)
    check_options(cases, dtype, seed)
    overrides = check_overrides(atol, rtol)
    budget = check_budget(max_cases, cases)
    if batch == "auto":
        batch = DEFAULT_BATCH
    arrays = tgt.user_arrays()

    def check_case(draw: Draw) -> _Outcome:
        case = make_network_case(tgt.spec, draw.seq_len, batch, draw.seed,  # type: ignore[arg-type]
                                 dtype, scale=draw.scale)
        case = tgt.prepare(case)
        return _check_case(tgt, arrays, case, draw.scale, diagnose_failures, overrides)

    outcomes = run_schedule(
        check_case, cases=cases, budget=budget, seed=seed, seq_len=seq_len, scale=scale,
        seq_lens=SEQ_LENS, scales=SCALES,
    )
    return _aggregate(tgt, outcomes, cases, overrides)


def check_network_target(
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


def _check_case(
    tgt: NetworkTarget,
    arrays: dict[str, UserArray],
    case: NetworkCase,
    scale: float,
    diagnose_failures: bool,
    overrides: dict[str, float],
) -> _Outcome:
    got_all = tgt.evaluate(case)
    missing = [n for n in arrays if n not in got_all]
    if missing:
        raise OracleError(f"{tgt.description}: no gradient for {missing}")
    case64 = case.astype("float64")
    ref = {k: np.asarray(v) for k, v in network_reference(case64, "numpy", "bptt").grads.items()}
    unrepresentable = representable(ref, case.dtype)
    rtol = overrides.get("rtol", tolerance(case.dtype, case.steps))
    drift = None if unrepresentable else measured_drift(case, _rerun, ref, per_entry=True)
    pool = NetworkHypotheses(case64, ref, arrays)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name, ua in arrays.items():
        atol = overrides.get("atol", 0.0)
        if drift is not None and "atol" not in overrides:
            atol = combine(rtol, float(np.max(np.abs(ref[ua.canonical]), initial=0.0)),
                           float(np.max(ua.from_canonical(drift), initial=0.0)))
        results[name], ratios[name] = _judge_array(
            ua, got_all[name], ua.from_canonical(ref), atol, rtol, case, pool, diagnose_failures,
            unrepresentable,
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
    return _Outcome(case, scale, results, ratios, steps, unrepresentable)


def _rerun(case: NetworkCase) -> dict[str, np.ndarray]:
    grads = network_reference(case, "numpy", "bptt").grads
    return {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}


def _judge_array(
    ua: UserArray,
    got: np.ndarray,
    R: np.ndarray,
    atol: float,
    rtol: float,
    case: NetworkCase,
    pool: NetworkHypotheses,
    diagnose_failures: bool,
    unrepresentable: str | None,
) -> tuple[GradientResult, float]:
    where = locate(ua.canonical)
    common: dict[str, Any] = {
        "name": ua.name, "mapping": ua.mapping, "shape": tuple(R.shape), "seed": case.seed,
        "atol": atol, "rtol": rtol, "reference": R,
    }
    if got.shape != R.shape:
        implied = f"{ua.name!r} is {ua.mapping} ({where}), of shape {tuple(R.shape)}; got " \
                  f"{tuple(got.shape)}"
        shaped = diagnose(got, R, pool.candidates(ua, got), atol, rtol, where=where)
        if shaped.cause == "unknown":
            raise OracleError(f"grads[{ua.name!r}]: {implied}")
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
        diag = diagnose(got, R, pool.candidates(ua, got), atol, rtol, where=where)
    message = (
        f"{where}: {j.n_failed} of {got.size} entries wrong; worst at {list(j.worst_index)}: "
        f"got {j.actual:.6g}, expected {j.expected:.6g}"
    )
    return GradientResult(verdict="wrong", message=message, diagnosis=diag, **fields,
                          **common), j.ratio


def _aggregate(
    tgt: NetworkTarget, outcomes: list[_Outcome], cases: int, overrides: dict[str, float]
) -> GradientReport:
    gradients = aggregate_gradients(outcomes, cases)
    steps, starts = worst_steps(outcomes)
    passed = all(g.passed for g in gradients)
    return GradientReport(
        passed=passed,
        target=f"{tgt.description} [{tgt.spec.label}]",
        convention=tgt.convention,
        mode="layer",
        dtype=outcomes[0].case.dtype,
        spec=tgt.spec,
        cases=tuple(case_info(o) for o in outcomes),
        gradients=tuple(gradients),
        loss=None,
        steps=steps,
        disagreement_starts=starts,
        summary=summary(passed, gradients, None, len(outcomes)),
        overrides=overrides,
    )
