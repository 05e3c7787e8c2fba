"""Why a gradient is wrong: named hypotheses, each computed independently, best fit wins.

For a mismatching gradient ``G`` (user's) against the reference ``R``, every hypothesis
gives a candidate gradient ``C`` — what an implementation with that bug returns — computed
on its own: a transform of ``R`` (transpose, sign, scale, clip, one step's contribution,
another parameter's gradient) or a hand BPTT with the slip built in
(:mod:`rnn_oracle.oracle.variants`). The fit of a candidate is its relative residual
``‖G − C‖ / max(‖G‖, ‖R‖)``; a candidate that passes the same entrywise test the
reference failed is an *exact* fit. Candidates indistinguishable from ``R`` are skipped.

Stable cause identifiers: :data:`CAUSES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.oracle.policy import judge

#: Cause identifier -> what it means, for every cell and architecture. Exact fits are
#: ranked in this order (simplest first).
CAUSES: dict[str, str] = {
    "transposed": "the gradient (or each of its gate blocks, or W_hh in the backward "
    "recursion) is transposed",
    "negated": "the gradient has the wrong sign",
    "scaled": "the gradient is off by a constant factor (T, 1/T, B, 1/B, 2, 1/2, …)",
    "zero": "the gradient is zero",
    "gates_permuted": "the gate blocks are stacked in another order than torch's",
    "gate_values_swapped": "the backward reads two gates' values in each other's place",
    "directions_swapped": "this is the other direction's gradient (forward ↔ backward)",
    "layers_swapped": "this is another layer's gradient",
    "local_only": "the recurrent contribution is missing: no gradient flows from step t+1 "
    "back to step t, so only each step's own loss counts (truncated BPTT with k = 1, or a "
    "detached state)",
    "truncated": "backpropagation through time is truncated: each step's loss reaches back "
    "only k steps (its own included)",
    "wrong_activation_derivative": "the activation derivative is the wrong function",
    "wrong_gate_derivative": "a gate's activation derivative is the wrong function (σ′ for "
    "a tanh gate, tanh′ for a sigmoid gate, taken at the pre-activation, or left out)",
    "off_by_one_state": "h_t (or c_t) is used where h_{t−1} (c_{t−1}) belongs (or the other "
    "way round)",
    "cell_state_path": "the LSTM cell-state gradient is not carried right: ∂J/∂c from step "
    "t+1 is dropped, or ∂J/∂c_t misses the path through h_t, or what is passed to step t−1 "
    "leaves part of ∂J/∂c_t out",
    "forget_gate": "the carried cell-state gradient is not multiplied by the forget gate",
    "output_gate": "a slip in h_t = o ∘ tanh(c_t): c_t for tanh(c_t), o left out, or a wrong "
    "tanh′(c_t) on the path into the cell state",
    "update_gate": "the GRU update gate's z and 1 − z are swapped somewhere in the backward "
    "(Cho's convention on torch's), or ∂h_t/∂z has the wrong sign",
    "reset_gate": "the GRU reset gate is differentiated where it is not applied (before the "
    "matmul, or outside b_hn) or left out of the W_hn path",
    "missing_accumulation": "only one step's contribution survives ('=' where '+=' belongs)",
    "gate_bias_one_step": "a gate's bias gradient (or the whole bias) holds one step's "
    "contribution only ('=' where '+=' belongs)",
    "clipped": "the gradient is clipped to a bound",
    "swapped": "this is another parameter's gradient",
    "unknown": "no named hypothesis fits",
}

#: What to look at, per cause.
HINTS: dict[str, str] = {
    "transposed": "a gradient has the shape of its parameter: ∂J/∂W = Σ_t δ_t s_tᵀ with δ the "
    "pre-activation gradient (rows) and s the input or previous state (columns); a "
    "row-vector W (y = x W) is the transpose of the column W",
    "negated": "check the sign of the loss (−Σ y log ŷ), of ŷ − y or the upstream gradient, "
    "and of each activation derivative",
    "scaled": "check the time and batch reduction (sum or mean) against the loss; layer "
    "mode sums over time and batch",
    "zero": "the gradient is never written",
    "gates_permuted": "stack the gate blocks in torch's order: GRU (r, z, n), LSTM (i, f, g, o)",
    "gate_values_swapped": "unpack the step's cache in the order the forward packs it (the "
    "gate values torch's way: GRU (r, z, n), LSTM (i, f, g, o))",
    "directions_swapped": "the backward direction reads the sequence reversed; its gradients "
    "belong under the '_reverse' names (torch) or 'backward' (canonical)",
    "layers_swapped": "layer l's gradients belong under its own names (l = 0 reads the input)",
    "local_only": "add the state gradient arriving from step t+1 (dh_next, and dc_next for "
    "LSTM) to step t's, and do not detach the state between steps",
    "truncated": "backpropagate through every step, not only the last k",
    "wrong_activation_derivative": "tanh' = 1 − h², sigmoid' = h (1 − h), with h the "
    "activation's output",
    "wrong_gate_derivative": "σ′ = s (1 − s) for i, f, o (LSTM) and r, z (GRU), tanh′ = "
    "1 − s² for g and n, with s the gate's value after its activation, not before",
    "off_by_one_state": "the weight gradient of step t pairs ∂J/∂a_t with h_{t−1}; LSTM: "
    "∂J/∂f_t = ∂J/∂c_t ∘ c_{t−1}; GRU: ∂h_t/∂z = h_{t−1} − n",
    "cell_state_path": "∂J/∂c_t = dc_next + ∂J/∂h_t ∘ o ∘ (1 − tanh²(c_t)), and pass "
    "f ∘ ∂J/∂c_t (all of it) back to step t−1 as its dc_next",
    "forget_gate": "∂J/∂c_{t−1} = f_t ∘ ∂J/∂c_t: c_{t−1} reaches c_t through the forget gate",
    "output_gate": "h_t = o ∘ tanh(c_t): ∂J/∂o = ∂J/∂h_t ∘ tanh(c_t), ∂J/∂c_t gets "
    "∂J/∂h_t ∘ o ∘ (1 − tanh²(c_t))",
    "update_gate": "torch: h_t = (1 − z) ∘ n + z ∘ h_{t−1}, so ∂J/∂n = ∂J/∂h_t ∘ (1 − z), "
    "the direct path is ∂J/∂h_t ∘ z and ∂h_t/∂z = h_{t−1} − n",
    "reset_gate": "torch: n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn)), so ∂J/∂r = ∂J/∂a_n "
    "∘ (W_hn h + b_hn) and ∇W_hn, ∇b_hn and the recursion use r ∘ ∂J/∂a_n",
    "missing_accumulation": "accumulate over time steps with += (and start from zero)",
    "gate_bias_one_step": "accumulate every gate's bias gradient over the steps with += (and "
    "start from zero), like the weights'",
    "clipped": "clip after checking the gradient, not inside the function under test",
    "swapped": "the gradient is returned under the wrong name",
    "unknown": "compare per-step (and per-layer, per-direction) contributions; see the worst "
    "entry and its time step",
}

_RANK: dict[str, int] = {cause: k for k, cause in enumerate(CAUSES)}


@dataclass(frozen=True)
class Location:
    """Where a canonical array sits: layer, direction, parameter (``layer`` is ``None``
    for a single layer's arrays and for a network's inputs)."""

    layer: int | None
    direction: str | None
    parameter: str

    def __str__(self) -> str:
        if self.layer is None:
            return self.parameter
        return f"layer {self.layer}, {self.direction} direction, {self.parameter}"

    def params(self) -> dict[str, Any]:
        return {"layer": self.layer, "direction": self.direction, "parameter": self.parameter}


def locate(canonical: str) -> Location:
    """``layer1.backward.W_hh`` -> layer 1, backward, ``W_hh``; ``inputs`` -> inputs."""
    parts = canonical.split(".")
    if len(parts) == 3 and parts[0].startswith("layer"):
        return Location(int(parts[0][5:]), parts[1], parts[2])
    return Location(None, None, canonical)


@dataclass(frozen=True)
class Candidate:
    cause: str
    detail: str
    value: np.ndarray  #: in the user's shape
    per_step: np.ndarray | None = None  #: ``(T, *user shape)`` when the hypothesis has steps
    params: dict[str, Any] = field(default_factory=dict)  #: factor, k, bound, swapped_with
    #: computes ``per_step`` when it is wanted (the winner only), where keeping every
    #: candidate's stack would cost ``T`` copies of it (truncation, one per ``k``)
    later_steps: Callable[[], np.ndarray | None] | None = field(default=None, compare=False)

    def steps(self) -> np.ndarray | None:
        if self.per_step is not None or self.later_steps is None:
            return self.per_step
        return self.later_steps()


@dataclass(frozen=True)
class Diagnosis:
    """The best-fitting hypothesis for one gradient, with its evidence."""

    cause: str  #: a :data:`CAUSES` identifier
    detail: str
    confidence: str  #: ``"exact"``, ``"approximate"`` or ``"none"``
    residual: float  #: relative residual of the best candidate
    reference_residual: float  #: the same measure for the reference (the size of the error)
    evidence: str
    hint: str
    params: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[tuple[str, str, float], ...] = ()  #: (cause, detail, residual)
    per_step_deviation: np.ndarray | None = field(default=None, repr=False, compare=False)
    step_candidate: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "detail": self.detail,
            "confidence": self.confidence,
            "residual": self.residual,
            "reference_residual": self.reference_residual,
            "evidence": self.evidence,
            "hint": self.hint,
            **{k: _plain(v) for k, v in self.params.items()},
            "alternatives": [
                {"cause": c, "detail": d, "residual": r} for c, d, r in self.alternatives
            ],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def diagnose(
    got: np.ndarray,
    reference: np.ndarray,
    candidates: Iterable[Candidate],
    atol: float,
    rtol: float,
    reference_steps: np.ndarray | None = None,
    where: Location | None = None,
) -> Diagnosis:
    """The best-fitting candidate for ``got`` (same shape as ``reference`` or not).

    An exact fit (the candidate passes the entrywise test the reference failed) wins,
    simplest cause first (:data:`CAUSES`' order); otherwise the best relative residual
    must be at most a tenth of the reference's and at most half of the best other
    cause's, or the answer is ``unknown``. ``where`` (a network's layer and direction)
    leads the detail and joins the parameters. Candidates are scored as they come and
    only each cause's best is kept, so a stream of ``T`` truncations never lives in
    memory at once."""
    norm = max(_norm(got), _norm(reference), 1e-300)
    same_shape = got.shape == reference.shape
    ref_res = _norm(got - reference) / norm if same_shape else float("inf")
    best_of_cause: dict[str, tuple[bool, float, int, Candidate]] = {}
    for cand in candidates:
        if cand.value.shape != got.shape:
            continue
        if cand.value.shape == reference.shape and judge(cand.value, reference, atol, rtol).passed:
            continue  # indistinguishable from the right answer
        exact = judge(got, cand.value, atol, rtol).passed
        entry = (not exact, _norm(got - cand.value) / norm, _RANK[cand.cause], cand)
        held = best_of_cause.get(cand.cause)
        if held is None or entry[:2] < held[:2]:
            best_of_cause[cand.cause] = entry
    scored = list(best_of_cause.values())
    # Exact fits rank by their cause, then residual: a rounding-level residual difference
    # must not decide between two exact causes.
    scored.sort(key=lambda s: (s[0], s[2], s[1]) if not s[0] else (s[0], s[1], s[2]))
    alternatives = _alternatives(scored)
    if not scored:
        return _unknown(ref_res, alternatives, where, "no hypothesis gives an array of this shape")
    inexact, res, _, best = scored[0]
    runner_up = next((s[1] for s in scored[1:]), float("inf"))
    if inexact and not (res <= 0.1 * ref_res and res <= 0.5 * runner_up):
        return _unknown(
            ref_res,
            alternatives,
            where,
            f"closest: {best.cause} ({best.detail}) with relative residual {res:.2g} against "
            f"{ref_res:.2g} for the reference and {runner_up:.2g} for the next cause",
        )
    against = [f"{what} {value:.2g}" for what, value in
               (("the reference's is", ref_res), ("the next cause's", runner_up))
               if np.isfinite(value)]
    evidence = (
        f"{'matches' if not inexact else 'is close to'} this slip ({best.detail}): relative "
        f"residual {res:.2g}" + (f" ({', '.join(against)})" if against else "")
    )
    deviation = None
    best_steps = best.steps()
    if best_steps is not None and reference_steps is not None:
        diff = np.abs(best_steps - reference_steps)
        deviation = diff.reshape(diff.shape[0], -1).max(axis=1)
    return Diagnosis(
        cause=best.cause,
        detail=best.detail if where is None else f"{where}: {best.detail}",
        confidence="approximate" if inexact else "exact",
        residual=res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=HINTS[best.cause],
        params={**({} if where is None else where.params()), **best.params},
        alternatives=alternatives,
        per_step_deviation=deviation,
        step_candidate=best_steps,
    )


def _alternatives(
    scored: list[tuple[bool, float, int, Candidate]],
) -> tuple[tuple[str, str, float], ...]:
    return tuple((cand.cause, cand.detail, res) for _, res, _, cand in scored[:4])


def _unknown(
    ref_res: float, alternatives: tuple[tuple[str, str, float], ...], where: Location | None,
    evidence: str,
) -> Diagnosis:
    return Diagnosis(
        cause="unknown",
        detail=CAUSES["unknown"] if where is None else f"{where}: {CAUSES['unknown']}",
        confidence="none",
        residual=ref_res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=HINTS["unknown"],
        params={} if where is None else where.params(),
        alternatives=alternatives,
    )


def diagnose_loss(got: float, expected: float, case: Case, atol: float, rtol: float) -> Diagnosis:
    """A wrong loss: its sign or a reduction factor."""
    T, B = case.seq_len, case.batch or 1
    cands = [Candidate("negated", "the loss has the wrong sign", -np.asarray([expected]))]
    for label, f in (("T", T), ("1/T", 1 / T), ("B", B), ("1/B", 1 / B), ("2", 2), ("1/2", 0.5)):
        if f != 1:
            cands.append(Candidate(
                "scaled", f"the loss is multiplied by {label}", f * np.asarray([expected]),
                None, {"factor": label, "factor_value": float(f)},
            ))
    g, r = np.asarray([got]), np.asarray([expected])
    return diagnose(g, r, cands, atol, rtol)


def _norm(a: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=np.float64)))))
    return value if np.isfinite(value) else float("inf")
