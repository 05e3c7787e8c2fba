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

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.policy import judge
from rnn_oracle.oracle.variants import (
    DERIVATIVES,
    Decomposition,
    Forward,
    Slip,
    decompose,
    run_forward,
    variant_bptt,
)

#: Memory the truncation hypotheses may take (see :attr:`HypothesisPool.decomposition_fits`).
DECOMPOSITION_BUDGET_BYTES = 256 * 2**20

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

    @property
    def decomposition_fits(self) -> bool:
        """Whether the by-distance decomposition behind the truncation hypotheses fits
        :data:`DECOMPOSITION_BUDGET_BYTES` (it holds ``T²`` copies of each gradient; at
        larger sizes those hypotheses are not tested)."""
        spec = self.case.spec
        per_pair = spec.n_h * (spec.n_h + spec.n_x + 1) + self.B * spec.n_x
        return self.T * self.T * per_pair * 8 <= DECOMPOSITION_BUDGET_BYTES

    @cached_property
    def decomposition(self) -> Decomposition:
        return decompose(self.case, self.fwd)

    @cached_property
    def slips(self) -> list[tuple[str, str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]]:
        cell = self.case.spec.cell
        out = []
        for label in DERIVATIVES:
            slip = Slip(derivative=label)
            out.append((
                "wrong_activation_derivative",
                f"uses {label} as the derivative of {cell}",
                variant_bptt(self.case, self.fwd, slip),
            ))
        for slip, detail in (
            (Slip(w_hh_state="current"), "∇W_hh pairs ∂J/∂a_t with h_t instead of h_{t−1}"),
            (Slip(w_hy_state="prev"), "∇W_hy pairs ∂J/∂o_t with h_{t−1} instead of h_t"),
            (Slip(derivative_of_previous=True), f"{cell}' is taken at h_{{t−1}} instead of h_t"),
        ):
            out.append(("off_by_one_state", detail, variant_bptt(self.case, self.fwd, slip)))
        out.append((
            "transposed",
            "the backward recursion multiplies by W_hh where W_hhᵀ belongs "
            "(∂J/∂h_{t−1} = W_hh ∂J/∂a_t instead of W_hhᵀ ∂J/∂a_t)",
            variant_bptt(self.case, self.fwd, Slip(recurrent_transposed=True)),
        ))
        return out

    def reference_user(self, name: str) -> np.ndarray:
        return self.layout.to_user(name, self.ref.grads[self.layout.canonical(name)])

    def per_step_user(self, name: str) -> np.ndarray | None:
        canonical = self.layout.canonical(name)
        if self.ref.per_step is None or canonical not in self.ref.per_step:
            return None
        return self.layout.stack_to_user(name, np.asarray(self.ref.per_step[canonical]))

    def candidates(self, name: str, names: tuple[str, ...], got: np.ndarray) -> list[Candidate]:
        """All candidates for user gradient ``name``; ``names`` are the other checked ones."""
        lay = self.layout
        canonical = lay.canonical(name)
        is_param = canonical not in ("h0", "inputs")
        R = self.reference_user(name)
        ps = self.per_step_user(name)
        out: list[Candidate] = []

        def user(value: np.ndarray) -> np.ndarray:
            return lay.to_user(name, value)

        def steps(stack: np.ndarray | None) -> np.ndarray | None:
            return None if stack is None or not is_param else lay.stack_to_user(name, stack)

        if R.ndim == 2:
            out.append(Candidate("transposed", "the gradient is transposed", R.T,
                                 None if ps is None else np.swapaxes(ps, -1, -2)))
        out.append(Candidate("negated", "the gradient has the wrong sign", -R,
                             None if ps is None else -ps))
        for symbol, factor, shown in self._factors(got, R):
            out.append(Candidate(
                "scaled", f"the gradient is multiplied by {shown}", factor * R,
                None if ps is None else factor * ps, {"factor": symbol, "factor_value": factor},
            ))
        out.append(Candidate("zero", "the gradient is zero", np.zeros_like(R),
                             None if ps is None else np.zeros_like(ps)))
        if is_param and self.ref.local is not None and ps is not None:
            local = lay.stack_to_user(name, np.asarray(self.ref.local[canonical]))
            out.append(Candidate(
                "local_only", "no gradient flows back from step t+1 (each step's own loss only)",
                local.sum(axis=0), local,
            ))
        elif not is_param and self.decomposition_fits:
            value, _ = self.decomposition.truncated(canonical, 1)
            out.append(Candidate(
                "local_only", "no gradient flows back from step t+1 (each step's own loss only)",
                user(value),
            ))
        if canonical not in ("W_hy", "b_y") and self.decomposition_fits:
            for k in range(2, self.T):
                value, stack = self.decomposition.truncated(canonical, k)
                out.append(Candidate(
                    "truncated", f"backpropagation truncated after k = {k} steps",
                    user(value), steps(stack), {"k": k},
                ))
        for cause, detail, (grads, stacks) in self.slips:
            out.append(Candidate(cause, detail, user(grads[canonical]),
                                 steps(stacks.get(canonical))))
        if ps is not None:
            for t, which in ((0, "first"), (self.T - 1, "last")):
                only = np.zeros_like(ps)
                only[t] = ps[t]
                out.append(Candidate(
                    "missing_accumulation",
                    f"only the {which} step's contribution (t = {t}) survives",
                    ps[t], only, {"step": t},
                ))
        bound = float(np.max(np.abs(got))) if got.size and np.all(np.isfinite(got)) else 0.0
        if 0.0 < bound < float(np.max(np.abs(R))):
            out.append(Candidate(
                "clipped", f"the gradient is clipped to [−{_nice(bound)}, {_nice(bound)}]",
                np.clip(R, -bound, bound), None, {"bound": _nice(bound)},
            ))
        for other in names:
            if other == name:
                continue
            R_other = self.reference_user(other)
            for value, how in ((R_other, ""), (R_other.T, " (transposed)")):
                if value.shape == got.shape:
                    out.append(Candidate(
                        "swapped", f"this is the gradient of {other!r}{how}", value, None,
                        {"swapped_with": other},
                    ))
        return out

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


def _nice(value: float) -> float | int:
    """A bound or factor as people write it: 5 rather than 4.999999."""
    rounded = round(value)
    if rounded != 0 and abs(value - rounded) <= 1e-6 * abs(value):
        return int(rounded)
    return float(f"{value:.6g}")


def diagnose(
    got: np.ndarray,
    reference: np.ndarray,
    candidates: list[Candidate],
    atol: float,
    rtol: float,
    reference_steps: np.ndarray | None = None,
) -> Diagnosis:
    """The best-fitting candidate for ``got`` (same shape as ``reference`` or not)."""
    norm = max(_norm(got), _norm(reference), 1e-300)
    same_shape = got.shape == reference.shape
    ref_res = _norm(got - reference) / norm if same_shape else float("inf")
    scored: list[tuple[bool, float, int, Candidate]] = []
    # Exact fits rank by the order of their cause (simplest first), then by residual; a
    # rounding-level residual difference must not decide between two exact causes.
    rank: dict[str, int] = {}
    for cand in candidates:
        rank.setdefault(cand.cause, len(rank))
    for cand in candidates:
        if cand.value.shape != got.shape:
            continue
        if cand.value.shape == reference.shape and judge(cand.value, reference, atol, rtol).passed:
            continue  # indistinguishable from the right answer
        exact = judge(got, cand.value, atol, rtol).passed
        scored.append((not exact, _norm(got - cand.value) / norm, rank[cand.cause], cand))
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
    if best.per_step is not None and reference_steps is not None:
        diff = np.abs(best.per_step - reference_steps)
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
        step_candidate=best.per_step,
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
