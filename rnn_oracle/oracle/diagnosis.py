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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.policy import judge
from rnn_oracle.oracle.variants import (
    DERIVATIVES,
    Forward,
    Slip,
    run_forward,
    truncated,
    truncated_deltas,
    truncated_gradient,
    variant_bptt,
)

#: Cause identifier -> what it means.
CAUSES: dict[str, str] = {
    "transposed": "the gradient (or W_hh in the backward recursion) is transposed",
    "negated": "the gradient has the wrong sign",
    "scaled": "the gradient is off by a constant factor (T, 1/T, B, 1/B, 2, …)",
    "local_only": "the recurrent contribution is missing: only each step's own loss counts",
    "truncated": "backpropagation through time is truncated after k steps",
    "off_by_one_state": "h_t is used where h_{t−1} belongs (or the other way round)",
    "wrong_activation_derivative": "the activation derivative is the wrong function",
    "clipped": "the gradient is clipped to a bound",
    "zero": "the gradient is zero",
    "missing_accumulation": "only one step's contribution survives ('=' where '+=' belongs)",
    "swapped": "this is another parameter's gradient",
    "unknown": "no named hypothesis fits",
}

#: What to look at, per cause.
HINTS: dict[str, str] = {
    "transposed": "check the layout: in this convention the gradient has the shape of the "
    "parameter, and a row-vector W (y = x W) is the transpose of the column W",
    "negated": "check the sign of the loss (−Σ y log ŷ) and of ŷ − y",
    "scaled": "check the time and batch reduction (sum or mean) against the loss",
    "local_only": "add the gradient arriving from step t+1 (dh_next) to dh_t",
    "truncated": "backpropagate through every step, not only the last k",
    "off_by_one_state": "the weight gradient of step t pairs ∂J/∂a_t with h_{t−1}",
    "wrong_activation_derivative": "tanh' = 1 − h², sigmoid' = h (1 − h), with h the "
    "activation's output",
    "clipped": "clip after checking the gradient, not inside the function under test",
    "zero": "the gradient is never written",
    "missing_accumulation": "accumulate over time steps with += (and start from zero)",
    "swapped": "the gradient is returned under the wrong name",
    "unknown": "compare per-step contributions; see the worst entry and its time step",
}


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


class HypothesisPool:
    """Every hypothesis' candidate for every gradient of one case, computed on demand."""

    def __init__(self, case: Case, ref: Reference, layout: Layout) -> None:
        self.case = case
        self.ref = ref  #: float64 NumPy reference (bptt)
        self.layout = layout
        self.T = case.seq_len
        self.B = case.batch or 1

    @cached_property
    def fwd(self) -> Forward:
        return run_forward(self.case)

    def truncations(self, name: str) -> Iterator[tuple[int, np.ndarray]]:
        """``(k, gradient of name)`` of BPTT truncated after k = 1 … T − 1 steps, streamed
        from one cumulative pass (:func:`~rnn_oracle.oracle.variants.truncated_deltas`)."""
        for k, da in enumerate(truncated_deltas(self.case, self.fwd), start=1):
            if k >= self.T:
                return
            yield k, truncated_gradient(self.case, self.fwd, name, da)

    @cached_property
    def slips(self) -> list[tuple[str, str, Slip, dict[str, np.ndarray]]]:
        """``(cause, detail, slip, gradients)`` of every hand-BPTT slip; the per-step stacks
        are computed for the winner only (:meth:`slip_steps`): thirteen stacks of every
        parameter would cost ``13 T`` copies of it."""
        cell = self.case.spec.cell
        named = [
            ("wrong_activation_derivative", f"uses {label} as the derivative of {cell}",
             Slip(derivative=label))
            for label in DERIVATIVES
        ]
        named += [
            ("off_by_one_state", "∇W_hh pairs ∂J/∂a_t with h_t instead of h_{t−1}",
             Slip(w_hh_state="current")),
            ("off_by_one_state", "∇W_hy pairs ∂J/∂o_t with h_{t−1} instead of h_t",
             Slip(w_hy_state="prev")),
            ("off_by_one_state", f"{cell}' is taken at h_{{t−1}} instead of h_t",
             Slip(derivative_of_previous=True)),
            ("transposed", "the backward recursion multiplies by W_hh where W_hhᵀ belongs "
             "(∂J/∂h_{t−1} = W_hh ∂J/∂a_t instead of W_hhᵀ ∂J/∂a_t)",
             Slip(recurrent_transposed=True)),
        ]
        return [
            (cause, detail, slip, variant_bptt(self.case, self.fwd, slip, per_step=False)[0])
            for cause, detail, slip in named
        ]

    def _user_steps(self, name: str, stack: np.ndarray | None) -> np.ndarray | None:
        if stack is None or self.layout.canonical(name) in ("h0", "inputs"):
            return None
        return self.layout.stack_to_user(name, stack)

    def _slip_steps(self, name: str, slip: Slip) -> np.ndarray | None:
        stacks = variant_bptt(self.case, self.fwd, slip)[1]
        return self._user_steps(name, stacks.get(self.layout.canonical(name)))

    def _truncated_steps(self, name: str, k: int) -> np.ndarray | None:
        _, stack = truncated(self.case, self.fwd, self.layout.canonical(name), k)
        return self._user_steps(name, stack)

    def reference_user(self, name: str) -> np.ndarray:
        return self.layout.to_user(name, self.ref.grads[self.layout.canonical(name)])

    def per_step_user(self, name: str) -> np.ndarray | None:
        canonical = self.layout.canonical(name)
        if self.ref.per_step is None or canonical not in self.ref.per_step:
            return None
        return self.layout.stack_to_user(name, np.asarray(self.ref.per_step[canonical]))

    def candidates(self, name: str, names: tuple[str, ...], got: np.ndarray) -> Iterator[Candidate]:
        """Every candidate for user gradient ``name``, one at a time (the truncations
        alone are ``T`` gradients); ``names`` are the other checked ones."""
        lay = self.layout
        canonical = lay.canonical(name)
        is_param = canonical not in ("h0", "inputs")
        R = self.reference_user(name)
        ps = self.per_step_user(name)

        def user(value: np.ndarray) -> np.ndarray:
            return lay.to_user(name, value)

        def scaled_steps(factor: float) -> Callable[[], np.ndarray] | None:
            # a (T, *shape) stack per candidate, made for the winner only
            return None if ps is None else partial(np.multiply, factor, ps)

        if R.ndim == 2:
            yield Candidate("transposed", "the gradient is transposed", R.T,
                            None if ps is None else np.swapaxes(ps, -1, -2))
        yield Candidate("negated", "the gradient has the wrong sign", -R,
                        later_steps=scaled_steps(-1.0))
        for symbol, factor, shown in self._factors(got, R):
            yield Candidate(
                "scaled", f"the gradient is multiplied by {shown}", factor * R,
                None, {"factor": symbol, "factor_value": factor},
                later_steps=scaled_steps(factor),
            )
        yield Candidate("zero", "the gradient is zero", np.zeros_like(R),
                        later_steps=scaled_steps(0.0))
        local_only = "no gradient flows back from step t+1 (each step's own loss only)"
        if is_param and self.ref.local is not None and ps is not None:
            local = lay.stack_to_user(name, np.asarray(self.ref.local[canonical]))
            yield Candidate("local_only", local_only, local.sum(axis=0), local)
        if canonical not in ("W_hy", "b_y"):
            for k, value in self.truncations(canonical):
                if k == 1:
                    if not is_param:
                        yield Candidate("local_only", local_only, user(value))
                    continue
                yield Candidate(
                    "truncated", f"backpropagation truncated after k = {k} steps",
                    user(value), None, {"k": k},
                    later_steps=partial(self._truncated_steps, name, k),
                )
        for cause, detail, slip, grads in self.slips:
            yield Candidate(cause, detail, user(grads[canonical]),
                            later_steps=partial(self._slip_steps, name, slip))
        if ps is not None:
            for t, which in ((0, "first"), (self.T - 1, "last")):
                yield Candidate(
                    "missing_accumulation",
                    f"only the {which} step's contribution (t = {t}) survives",
                    ps[t], None, {"step": t}, later_steps=partial(_only_step, ps, t),
                )
        bound = float(np.max(np.abs(got))) if got.size and np.all(np.isfinite(got)) else 0.0
        if 0.0 < bound < float(np.max(np.abs(R))):
            yield Candidate(
                "clipped", f"the gradient is clipped to [−{_nice(bound)}, {_nice(bound)}]",
                np.clip(R, -bound, bound), None, {"bound": _nice(bound)},
            )
        for other in names:
            if other == name:
                continue
            R_other = self.reference_user(other)
            for value, how in ((R_other, ""), (R_other.T, " (transposed)")):
                if value.shape == got.shape:
                    yield Candidate(
                        "swapped", f"this is the gradient of {other!r}{how}", value, None,
                        {"swapped_with": other},
                    )

    def _factors(self, got: np.ndarray, R: np.ndarray) -> list[tuple[str, float, str]]:
        """``(symbol, value, shown)`` for every factor a reduction slip gives, ± each."""
        T, B = self.T, self.B
        named: list[tuple[str, float, str]] = [
            ("2", 2.0, "2"),
            ("1/2", 0.5, "1/2"),
            ("T", T, f"T = {T}"),
            ("1/T", 1 / T, f"1/T = 1/{T}"),
        ]
        if B > 1:
            named += [
                ("B", B, f"B = {B}"), ("1/B", 1 / B, f"1/B = 1/{B}"),
                ("T·B", T * B, f"T·B = {T * B}"), ("1/(T·B)", 1 / (T * B), f"1/(T·B) = 1/{T * B}"),
            ]
        out: list[tuple[str, float, str]] = []
        for symbol, value, shown in named:
            for sign, prefix in ((1.0, ""), (-1.0, "−")):
                v = sign * float(value)
                if abs(v) != 1.0 and all(v != o[1] for o in out):
                    out.append((prefix + symbol, v, prefix + shown))
        if got.shape == R.shape and np.all(np.isfinite(got)):
            denom = float(np.sum(R * R))
            c = float(np.sum(got * R)) / denom if denom > 0 else 0.0
            new = all(abs(c - o[1]) > 1e-6 * abs(o[1]) for o in out)
            if c != 0 and abs(abs(c) - 1) > 1e-6 and new:
                out.append((f"{c:.6g}", c, f"{c:.6g}"))
        return out


def _only_step(stack: np.ndarray, t: int) -> np.ndarray:
    """``stack`` with every step but ``t`` zeroed."""
    only = np.zeros_like(stack)
    only[t] = stack[t]
    return only


def _nice(value: float) -> float | int:
    """A bound or factor as people write it: 5 rather than 4.999999."""
    rounded = round(value)
    if rounded != 0 and abs(value - rounded) <= 1e-6 * abs(value):
        return int(rounded)
    return float(f"{value:.6g}")


def diagnose(
    got: np.ndarray,
    reference: np.ndarray,
    candidates: Iterable[Candidate],
    atol: float,
    rtol: float,
    reference_steps: np.ndarray | None = None,
) -> Diagnosis:
    """The best-fitting candidate for ``got`` (same shape as ``reference`` or not).

    Candidates are scored as they come and only each cause's best is kept, so a stream of
    ``T`` truncations never lives in memory at once."""
    norm = max(_norm(got), _norm(reference), 1e-300)
    same_shape = got.shape == reference.shape
    ref_res = _norm(got - reference) / norm if same_shape else float("inf")
    # Exact fits rank by the order of their cause (simplest first), then by residual; a
    # rounding-level residual difference must not decide between two exact causes.
    rank: dict[str, int] = {}
    best_of_cause: dict[str, tuple[bool, float, int, Candidate]] = {}
    for cand in candidates:
        rank.setdefault(cand.cause, len(rank))
        if cand.value.shape != got.shape:
            continue
        if cand.value.shape == reference.shape and judge(cand.value, reference, atol, rtol).passed:
            continue  # indistinguishable from the right answer
        exact = judge(got, cand.value, atol, rtol).passed
        entry = (not exact, _norm(got - cand.value) / norm, rank[cand.cause], cand)
        held = best_of_cause.get(cand.cause)
        if held is None or entry[:2] < held[:2]:
            best_of_cause[cand.cause] = entry
    scored = list(best_of_cause.values())
    scored.sort(key=lambda s: (s[0], s[2], s[1]) if not s[0] else (s[0], s[1], s[2]))
    alternatives = _alternatives(scored)
    if not scored:
        return _unknown(ref_res, alternatives, "no hypothesis gives an array of this shape")
    inexact, res, _, best = scored[0]
    if inexact and not res <= 0.1 * ref_res:
        return _unknown(
            ref_res,
            alternatives,
            f"closest: {best.cause} ({best.detail}) with relative residual {res:.2g} against "
            f"{ref_res:.2g} for the reference",
        )
    confidence = "approximate" if inexact else "exact"
    evidence = (
        f"{'matches' if not inexact else 'is close to'} the gradient of an implementation in "
        f"which {best.detail}: relative residual {res:.2g}"
        + (f" (the reference's is {ref_res:.2g})" if np.isfinite(ref_res) else "")
    )
    deviation = None
    best_steps = best.steps()
    if best_steps is not None and reference_steps is not None:
        diff = np.abs(best_steps - reference_steps)
        deviation = diff.reshape(diff.shape[0], -1).max(axis=1)
    return Diagnosis(
        cause=best.cause,
        detail=best.detail,
        confidence=confidence,
        residual=res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=HINTS[best.cause],
        params=dict(best.params),
        alternatives=alternatives,
        per_step_deviation=deviation,
        step_candidate=best_steps,
    )


def _alternatives(
    scored: list[tuple[bool, float, int, Candidate]],
) -> tuple[tuple[str, str, float], ...]:
    out: list[tuple[str, str, float]] = []
    seen: set[str] = set()
    for _, res, _, cand in scored:
        if cand.cause not in seen:
            seen.add(cand.cause)
            out.append((cand.cause, cand.detail, res))
        if len(out) == 4:
            break
    return tuple(out)


def _unknown(
    ref_res: float, alternatives: tuple[tuple[str, str, float], ...], evidence: str
) -> Diagnosis:
    return Diagnosis(
        cause="unknown",
        detail=CAUSES["unknown"],
        confidence="none",
        residual=ref_res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=HINTS["unknown"],
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
