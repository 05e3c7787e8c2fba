"""``check_network_gradients``: check a stacked, bidirectional, GRU or LSTM layer stack in
layer mode — a torch ``nn.RNN``/``GRU``/``LSTM``, a Flax ``GRUCell``/``LSTMCell``, or a
hand-written backward — against the float64 hand-BPTT reference of
:mod:`rnn_oracle.architectures`, and say per layer and direction what is wrong.

Tolerance. The reference is float64 hand BPTT
(:func:`~rnn_oracle.architectures.network_reference`, ``"bptt"``). A user array in
``dtype`` fails at an entry only where both its absolute error exceeds ``atol`` and its
relative error ``|a − b| / max(|a| + |b|, 1e-8)`` exceeds ``rtol`` (the entrywise test of
:func:`rnn_oracle.oracle.policy.judge`), with

* ``rtol = tolerance(dtype, T)``: ``1e-10`` in float64, ``32 ε₃₂ √T`` in float32
  (:func:`rnn_oracle.compare.tolerance`);
* ``atol = rtol · max |R_c|``, ``R_c`` the whole canonical reference array the user array
  is a view of; in float32 at least :data:`FORWARD_FACTOR` (8) times the largest drift
  from the float64 reference of :data:`DRIFT_SAMPLES` float32 hand BPTTs of the case and
  of ``ε₃₂``-perturbed copies (:func:`_float32_drift`) — the rounding a correct float32
  computation of *this* case shows, which grows without bound where deep, saturated
  stacks are chaotic (the single-layer policy's floor, :mod:`rnn_oracle.oracle.policy`).

Measured: correct torch modules in float64 agree to about ``1e-15`` of ``max |R|``. In
float32, on 150 random deep stacks (3 layers, weight scale 2–4, every cell) torch's error
was at most 5.6 times a single float32 hand BPTT's drift, and hypothesis found a chaotic
deep-bidirectional tanh case at about 14 times; the spread of three samples brings that
case under the bound. Every slip the diagnosis names moves entries by ``O(|R|)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rnn_oracle.architectures.case import NetworkCase, make_network_case
from rnn_oracle.architectures.reference import network_reference
from rnn_oracle.architectures.spec import NetworkSpec
from rnn_oracle.compare import tolerance
from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.check import (
    check_options,
    judged_fields,
    non_finite_result,
    summary,
    worst_steps,
)
from rnn_oracle.oracle.network_diagnosis import (
    NetworkHypotheses,
    diagnose_network,
    locate,
)
from rnn_oracle.oracle.network_targets import NetworkTarget, UserArray, as_network_target
from rnn_oracle.oracle.policy import FORWARD_FACTOR, judge
from rnn_oracle.oracle.report import CaseInfo, GradientReport, GradientResult, StepResult

#: Case schedule, cycled: lengths and weight scales vary from case to case.
SEQ_LENS: tuple[int, ...] = (5, 8, 3, 6)
SCALES: tuple[float, ...] = (1.0, 1.5, 0.8, 1.2)
DEFAULT_BATCH = 2
#: float32 hand BPTTs whose spread from the float64 reference sets the float32 floor.
DRIFT_SAMPLES = 3


@dataclass(frozen=True)
class _Outcome:
    case: NetworkCase
    scale: float
    results: dict[str, GradientResult]
    ratios: dict[str, float]
    steps: tuple[StepResult, ...] | None


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
) -> GradientReport:
    """Check the layer-mode gradients of a recurrent layer stack on ``cases`` random cases.

    Args:
        target: a ``torch.nn.RNN``/``GRU``/``LSTM`` (any ``num_layers``, ``bidirectional``,
            ``batch_first``; ``bias=True``), a Flax ``GRUCell``/``LSTMCell``/
            ``OptimizedLSTMCell``, or a function
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
        cases: how many random cases (as for :func:`~rnn_oracle.check_gradients`).
        dtype: ``"float64"`` or ``"float32"``.
        seed: seed of the first case.
        seq_len: fixed T for every case (default lengths 5, 8, 3, 6, …).
        scale: fixed weight scale (default: a schedule around 1).
        diagnose_failures: test the named hypotheses on every failing gradient.
        batch: batch size, ``None`` for unbatched sequences; default 2.

    Returns:
        a :class:`~rnn_oracle.GradientReport` whose gradients carry the user's names and,
        as ``mapping``, the canonical array each is a view of.
    """
    tgt = as_network_target(target, spec, names, batch_first)
    check_options(cases, dtype, seed)
    if batch == "auto":
        batch = DEFAULT_BATCH
    arrays = tgt.user_arrays()
    outcomes = []
    for i in range(cases):
        used_scale = scale if scale is not None else SCALES[i % len(SCALES)]
        case = make_network_case(
            tgt.spec,
            seq_len if seq_len is not None else SEQ_LENS[i % len(SEQ_LENS)],
            batch,  # type: ignore[arg-type]
            seed + i,
            dtype,
            scale=used_scale,
        )
        case = tgt.prepare(case)
        outcomes.append(_check_case(tgt, arrays, case, used_scale, diagnose_failures))
    return _aggregate(tgt, outcomes)


def check_network_target(
    target: Any, *, convention: Any, spec: Any, mode: str | None, **options: Any
) -> GradientReport:
    """:func:`~rnn_oracle.check_gradients`'s route to :func:`check_network_gradients`:
    refuses the options that have no meaning for a layer stack."""
    if convention is not None:
        raise OracleError(
            f"convention: a network target is named by its framework (or a function by "
            f"canonical names; use check_network_gradients(..., names='torch') for torch's); "
            f"leave it out, got {convention!r}"
        )
    if mode not in (None, "layer"):
        raise OracleError(f"mode: a network target is checked in layer mode, got {mode!r}")
    if spec is not None and not isinstance(spec, NetworkSpec):
        raise OracleError(
            f"spec: a torch RNN/GRU/LSTM stack or a Flax GRU/LSTM cell takes a NetworkSpec, "
            f"got {type(spec).__name__}"
        )
    return check_network_gradients(target, spec=spec, **options)


def _check_case(
    tgt: NetworkTarget,
    arrays: dict[str, UserArray],
    case: NetworkCase,
    scale: float,
    diagnose_failures: bool,
) -> _Outcome:
    got_all = tgt.evaluate(case)
    missing = [n for n in arrays if n not in got_all]
    if missing:
        raise OracleError(f"{tgt.description}: no gradient for {missing}")
    case64 = case.astype("float64")
    ref = {k: np.asarray(v) for k, v in network_reference(case64, "numpy", "bptt").grads.items()}
    rtol = tolerance(case.dtype, case.steps)
    drift = _float32_drift(case, ref) if case.dtype == "float32" else None
    pool = NetworkHypotheses(case64, ref, arrays)
    results: dict[str, GradientResult] = {}
    ratios: dict[str, float] = {}
    for name, ua in arrays.items():
        atol = rtol * float(np.max(np.abs(ref[ua.canonical]), initial=0.0))
        if drift is not None:
            atol = max(atol, FORWARD_FACTOR * float(np.max(ua.from_canonical(drift), initial=0.0)))
        atol = max(atol, 1e-300)
        results[name], ratios[name] = _judge_array(
            ua, got_all[name], ua.from_canonical(ref), atol, rtol, case, pool, diagnose_failures
        )
    steps = None
    if "inputs" in results and results["inputs"].verdict in ("ok", "wrong"):
        ua = arrays["inputs"]
        got = got_all["inputs"]
        got_tm = np.swapaxes(got, 0, 1) if ua.batch_first and got.ndim == 3 else got
        r = results["inputs"]
        steps = tuple(
            StepResult(t=t, ratio=j.ratio, passed=j.passed)
            for t in range(got_tm.shape[0])
            for j in [judge(got_tm[t], ref["inputs"][t], r.atol, r.rtol)]
        )
    return _Outcome(case, scale, results, ratios, steps)


def _float32_drift(case: NetworkCase, ref: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """How far correct float32 computations of this case land from the float64 reference,
    entry by entry: the largest deviation of :data:`DRIFT_SAMPLES` float32 hand BPTTs — of
    the case itself and of copies whose every array is perturbed by one float32 rounding
    (``x (1 ± ε₃₂)``, random signs). One sample can be luckily small where the forward
    pass is chaotic; the perturbed ones show how far an ``ε``-sized change moves the result
    (another implementation's rounding is such a change)."""
    rng = np.random.default_rng(case.seed)
    eps = float(np.finfo(np.float32).eps)
    out = {k: np.zeros_like(v) for k, v in ref.items()}
    for k in range(DRIFT_SAMPLES):
        sample = case
        if k > 0:
            sample = case.with_arrays(**{
                n: (v * (1.0 + eps * rng.choice([-1.0, 1.0], size=v.shape))).astype(np.float32)
                for n, v in case.arrays.items()
            })
        grads = network_reference(sample, "numpy", "bptt").grads
        for n in out:
            out[n] = np.maximum(out[n], np.abs(np.asarray(grads[n], dtype=np.float64) - ref[n]))
    return out


def _judge_array(
    ua: UserArray,
    got: np.ndarray,
    R: np.ndarray,
    atol: float,
    rtol: float,
    case: NetworkCase,
    pool: NetworkHypotheses,
    diagnose_failures: bool,
) -> tuple[GradientResult, float]:
    where = locate(ua.canonical)
    common: dict[str, Any] = {
        "name": ua.name, "mapping": ua.mapping, "shape": tuple(R.shape), "seed": case.seed,
        "atol": atol, "rtol": rtol, "reference": R,
    }
    if got.shape != R.shape:
        implied = f"{ua.name!r} is {ua.mapping} ({where}), of shape {tuple(R.shape)}; got " \
                  f"{tuple(got.shape)}"
        shaped = diagnose_network(got, R, pool.candidates(ua, got), atol, rtol, where)
        if shaped.cause == "unknown":
            raise OracleError(f"grads[{ua.name!r}]: {implied}")
        return GradientResult(
            verdict="wrong shape", message=implied, diagnosis=shaped, got=got, **common
        ), float("inf")
    if not np.all(np.isfinite(got)):
        return non_finite_result(got, R, common), float("inf")
    j = judge(got, R, atol, rtol)
    fields = judged_fields(j, got)
    if j.passed:
        return GradientResult(verdict="ok", message="agrees", **fields, **common), j.ratio
    diag = None
    if diagnose_failures:
        diag = diagnose_network(got, R, pool.candidates(ua, got), atol, rtol, where)
    message = (
        f"{where}: {j.n_failed} of {got.size} entries wrong; worst at {list(j.worst_index)}: "
        f"got {j.actual:.6g}, expected {j.expected:.6g}"
    )
    return GradientResult(verdict="wrong", message=message, diagnosis=diag, **fields,
                          **common), j.ratio


def _aggregate(tgt: NetworkTarget, outcomes: list[_Outcome]) -> GradientReport:
    gradients = []
    for name in outcomes[0].results:
        worst = max(outcomes, key=lambda o: (not o.results[name].passed, o.ratios[name]))
        result = worst.results[name]
        failing = [o.results[name] for o in outcomes if not o.results[name].passed]
        cause = result.diagnosis.cause if result.diagnosis else None
        agreeing = sum(1 for r in failing if r.diagnosis and r.diagnosis.cause == cause)
        gradients.append(replace(result, failing_cases=len(failing), agreeing_cases=agreeing))
    steps, starts = worst_steps(outcomes)
    passed = all(g.passed for g in gradients)
    infos = tuple(
        CaseInfo(seed=int(o.case.seed or 0), seq_len=o.case.seq_len, batch=o.case.batch,
                 scale=o.scale, passed=all(r.passed for r in o.results.values()))
        for o in outcomes
    )
    return GradientReport(
        passed=passed,
        target=f"{tgt.description} [{tgt.spec.label}]",
        convention=tgt.convention,
        mode="layer",
        dtype=outcomes[0].case.dtype,
        spec=tgt.spec,
        cases=infos,
        gradients=tuple(gradients),
        loss=None,
        steps=steps,
        disagreement_starts=starts,
        summary=summary(passed, gradients, None, len(outcomes)),
    )

