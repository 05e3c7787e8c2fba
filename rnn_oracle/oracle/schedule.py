"""Which cases a check draws, and how per-case verdicts add up to one per gradient.

Shared by the single-layer and the network check. A gradient is *judged* on a case only
if the case can tell it from the wrong answers the oracle knows
(:func:`~rnn_oracle.oracle.policy.discriminates`) and its exact values are representable
in the dtype; otherwise the case is *inconclusive* for it. The check keeps drawing
replacement cases — the next seeds, the schedule's other lengths and, where a case was
too ill-conditioned to judge, smaller weight scales — until every gradient has the
requested number of judgements or is judged wrong, within a budget of draws. A gradient
that never gets a judgement is reported ``inconclusive``, never ``ok``. A failure on an
inconclusive case still counts: exceeding a loose but honest bound is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rnn_oracle.errors import OracleError
from rnn_oracle.oracle.report import CaseInfo, GradientResult, LossResult, StepResult

#: Draws allowed per requested case (the requested ones included).
DRAW_BUDGET_FACTOR = 4
#: A replacement case after an ill-conditioned one has its weight scale multiplied by this.
SHRINK = 0.7


@dataclass(frozen=True)
class Draw:
    """One case to draw: its seed, length and weight scale, and whether its data is the
    same at every step (``coherent``: gradients add up over time instead of cancelling,
    which is where a clip at ±5 bites and a lost accumulation shows its size)."""

    seed: int
    seq_len: int
    scale: float
    coherent: bool = False


def check_budget(max_cases: Any, cases: int) -> int:
    """The number of draws allowed; ``max_cases=None`` gives
    :data:`DRAW_BUDGET_FACTOR` × ``cases``."""
    if max_cases is None:
        return DRAW_BUDGET_FACTOR * cases
    if isinstance(max_cases, bool) or not isinstance(max_cases, int) or max_cases < cases:
        raise OracleError(
            f"max_cases: expected an integer of at least cases = {cases} (the draws allowed, "
            f"replacements for inconclusive cases included), got {max_cases!r}"
        )
    return max_cases


def run_schedule(
    check_case: Callable[[Draw], Any],
    *,
    cases: int,
    budget: int,
    seed: int,
    seq_len: int | None,
    scale: float | None,
    seq_lens: Sequence[int],
    scales: Sequence[float],
    coherent: Sequence[bool] = (False,),
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Check draws until every gradient has ``cases`` judgements (or a wrong one), at most
    ``budget`` draws. The user's fixed ``seq_len``/``scale`` stay fixed in replacements."""
    outcomes: list[Any] = []
    for draw in _draws(outcomes, seed, seq_len, scale, seq_lens, scales, coherent, budget):
        outcomes.append(check_case(draw))
        if progress is not None:
            progress(len(outcomes), budget)
        if len(outcomes) >= cases and _enough(outcomes, cases):
            break
    return outcomes


def _draws(
    outcomes: list[Any],
    seed: int,
    seq_len: int | None,
    scale: float | None,
    seq_lens: Sequence[int],
    scales: Sequence[float],
    coherent: Sequence[bool],
    budget: int,
) -> Iterator[Draw]:
    shrink = 1.0
    for i in range(budget):
        if outcomes and _ill_conditioned(outcomes[-1]):
            shrink *= SHRINK
        yield Draw(
            seed=seed + i,
            seq_len=seq_len if seq_len is not None else seq_lens[i % len(seq_lens)],
            scale=scale if scale is not None else scales[i % len(scales)] * shrink,
            coherent=coherent[i % len(coherent)],
        )


def _ill_conditioned(outcome: Any) -> bool:
    return "inconclusive" in _verdicts(outcome).values()


def _verdicts(outcome: Any) -> dict[str, str]:
    """Each judged value's verdict on one case: the gradients and, in model mode, the loss."""
    verdicts = {name: r.verdict for name, r in outcome.results.items()}
    loss = getattr(outcome, "loss", None)
    if loss is not None:
        verdicts["(loss)"] = loss.verdict
    return verdicts


def _enough(outcomes: list[Any], cases: int) -> bool:
    per_case = [_verdicts(o) for o in outcomes]
    names = {n for v in per_case for n in v}
    for name in names:
        judged = [v[name] for v in per_case if name in v and v[name] != "inconclusive"]
        if any(v != "ok" for v in judged):
            continue  # judged wrong: more cases cannot change that
        if len(judged) < cases:
            return False
    return True


def aggregate_gradients(outcomes: Sequence[Any], cases: int) -> list[GradientResult]:
    """One result per gradient: the worst judged case's (failures first), with the counts
    of cases drawn, judged and inconclusive; ``inconclusive`` where none was judged."""
    names: list[str] = []
    for o in outcomes:
        names += [n for n in o.results if n not in names]
    gradients = []
    for name in names:
        per_case = [o for o in outcomes if name in o.results]
        judged = [o for o in per_case if o.results[name].verdict != "inconclusive"]
        counts = {
            "cases_drawn": len(per_case),
            "cases_judged": len(judged),
            "cases_inconclusive": len(per_case) - len(judged),
            "cases_requested": cases,
        }
        if not judged:
            gradients.append(replace(per_case[-1].results[name], **counts))
            continue
        worst = max(judged, key=lambda o: (not o.results[name].passed, o.ratios[name]))
        result = worst.results[name]
        failing = [o.results[name] for o in judged if not o.results[name].passed]
        cause = result.diagnosis.cause if result.diagnosis else None
        agreeing = sum(1 for r in failing if r.diagnosis and r.diagnosis.cause == cause)
        gradients.append(replace(
            result, failing_cases=len(failing), agreeing_cases=agreeing, **counts
        ))
    return gradients


def inconclusive_result(common: dict[str, Any], reason: str) -> GradientResult:
    """The result for a gradient this case cannot judge."""
    return GradientResult(
        verdict="inconclusive", message=f"not judged on this case: {reason}",
        inconclusive_reason=reason, **common,
    )


def case_info(outcome: Any, loss: LossResult | None = None) -> CaseInfo:
    """What the report says of one drawn case."""
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
        scale=outcome.draw.scale,
        coherent=outcome.draw.coherent,
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
