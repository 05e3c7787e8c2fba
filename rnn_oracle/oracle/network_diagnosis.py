"""Why a network gradient is wrong, per layer and direction.

For a failing user array ``G`` with reference ``R`` (a view of one canonical array, see
:class:`~rnn_oracle.oracle.network_targets.UserArray`), every hypothesis gives the array an
implementation with that slip would return, computed independently of ``G``: a transform
of ``R`` (transpose — whole, or of each gate block —, sign, a reduction factor, zero), a
permutation of the gate blocks, another block's reference (the other direction, another
layer, another parameter), or a hand BPTT with the recurrence cut
(:func:`rnn_oracle.architectures.bptt.gradients` with ``recurrent=False``); a one-block
vanilla network (one-layer ``nn.RNN``, ``SimpleCell``) is the single-layer RNN and gets the
single-layer hypotheses too (:class:`~rnn_oracle.oracle.diagnosis.HypothesisPool`). The decision is
by numbers, as in :mod:`rnn_oracle.oracle.diagnosis`: a candidate that passes the same
entrywise test the reference failed is an *exact* fit; otherwise the best relative
residual ``‖G − C‖ / max(‖G‖, ‖R‖)`` must be at most a tenth of the reference's and at
most half of the best other cause's, or the answer is ``unknown``.

Stable cause identifiers: :data:`NETWORK_CAUSES`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from rnn_oracle._reference import reference
from rnn_oracle.architectures import bptt
from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.spec import GATES
from rnn_oracle.case import Case
from rnn_oracle.oracle.diagnosis import (
    CAUSES,
    HINTS,
    Candidate,
    Diagnosis,
    HypothesisPool,
    _alternatives,
)
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.network_targets import UserArray
from rnn_oracle.oracle.policy import judge
from rnn_oracle.params import ParamConvention
from rnn_oracle.spec import RNNSpec

#: Causes only the single-layer hypotheses name (a one-block vanilla network gets them).
SINGLE_LAYER_CAUSES: tuple[str, ...] = (
    "truncated", "wrong_activation_derivative", "off_by_one_state", "missing_accumulation",
    "clipped",
)
#: The single-layer arrays under their canonical names, unchanged (the bridge's layout).
_CANONICAL = ParamConvention("canonical", {n: n for n in ("W_xh", "W_hh", "b_h")})

#: Cause identifier -> what it means. Shared identifiers mean what they mean in
#: :data:`rnn_oracle.oracle.CAUSES`.
NETWORK_CAUSES: dict[str, str] = {
    "transposed": "the gradient (or each of its gate blocks) is transposed",
    "negated": "the gradient has the wrong sign",
    "scaled": "the gradient is off by a constant factor (T, 1/T, B, 1/B, 2, 1/2)",
    "zero": "the gradient is zero",
    "gates_permuted": "the gate blocks are stacked in another order than torch's",
    "directions_swapped": "this is the other direction's gradient (forward ↔ backward)",
    "layers_swapped": "this is another layer's gradient",
    "swapped": "this is another parameter's gradient",
    "local_only": "the recurrent term is missing: no gradient flows from step t+1 back to "
    "step t (truncated BPTT with k = 1, or a detached state)",
    **{cause: CAUSES[cause] for cause in SINGLE_LAYER_CAUSES},
    "unknown": "no named hypothesis fits",
}

NETWORK_HINTS: dict[str, str] = {
    "transposed": "a gradient has the shape of its parameter: ∂J/∂W = Σ_t δ_t s_tᵀ with δ the "
    "gate pre-activation gradient (rows) and s the input or previous state (columns)",
    "negated": "check the sign of the upstream gradient and of each gate derivative",
    "scaled": "layer mode sums over time and batch; check for a mean or a doubled term",
    "zero": "the gradient is never written",
    "gates_permuted": "stack the gate blocks in torch's order: GRU (r, z, n), LSTM (i, f, g, o)",
    "directions_swapped": "the backward direction reads the sequence reversed; its gradients "
    "belong under the '_reverse' names (torch) or 'backward' (canonical)",
    "layers_swapped": "layer l's gradients belong under its own names (l = 0 reads the input)",
    "swapped": "the gradient is returned under the wrong name",
    "local_only": "add the state gradient arriving from step t+1 (dh_next, and dc_next for "
    "LSTM) to step t's, and do not detach the state between steps",
    **{cause: HINTS[cause] for cause in SINGLE_LAYER_CAUSES},
    "unknown": "compare per-layer, per-direction gradients; see the worst entry",
}

#: Exact fits are ranked by this order (simplest first).
ORDER: tuple[str, ...] = tuple(NETWORK_CAUSES)

#: Named gate orders of other frameworks, by cell and order.
KNOWN_ORDERS: dict[tuple[str, tuple[str, ...]], str] = {
    ("gru", ("z", "r", "n")): "Keras's GRU order (z, r, h)",
    ("lstm", ("i", "g", "f", "o")): "TensorFlow 1's LSTMCell order (i, j, f, o)",
    ("lstm", ("i", "f", "o", "g")): "the (i, f, o, g) order of some hand-written LSTMs",
}


@dataclass(frozen=True)
class Location:
    """Where a canonical array sits: layer, direction, parameter."""

    layer: int | None
    direction: str | None
    parameter: str

    def __str__(self) -> str:
        if self.layer is None:
            return self.parameter
        return f"layer {self.layer}, {self.direction} direction, {self.parameter}"


def locate(canonical: str) -> Location:
    """``layer1.backward.W_hh`` -> layer 1, backward, ``W_hh``; ``inputs`` -> inputs."""
    parts = canonical.split(".")
    if len(parts) == 3 and parts[0].startswith("layer"):
        return Location(int(parts[0][5:]), parts[1], parts[2])
    return Location(None, None, canonical)


def _other_direction(direction: str) -> str:
    return "backward" if direction == "forward" else "forward"


class NetworkHypotheses:
    """Every hypothesis' candidate for every user array of one case (float64)."""

    def __init__(
        self,
        case: NetworkCase,
        reference: Mapping[str, np.ndarray],
        arrays: Mapping[str, UserArray],
    ) -> None:
        self.case = case
        self.spec = case.spec
        self.ref = {k: np.asarray(v) for k, v in reference.items()}
        self.arrays = dict(arrays)
        self.T = case.seq_len
        self.B = case.batch or 1

    @cached_property
    def cut(self) -> dict[str, np.ndarray]:
        """The gradients with the recurrence cut in every block."""
        _, grads = bptt.gradients(self.spec, self.case.arrays, np,
                                  upstream=self.case.upstream, recurrent=False)
        return {k: np.asarray(v) for k, v in grads.items()}

    @cached_property
    def single_layer(self) -> HypothesisPool | None:
        """The single-layer hypothesis pool of a one-block vanilla network, else ``None``."""
        spec = self.spec
        if spec.architecture != "many_to_many" or len(spec.blocks()) != 1 or spec.cell in GATES:
            return None
        rnn = RNNSpec(cell=spec.cell, n_x=spec.n_x, n_h=spec.n_h, head="none")  # type: ignore[arg-type]
        block, arrays = spec.blocks()[0].prefix, self.case.arrays
        case = Case(rnn, {n: arrays[block + n] for n in _CANONICAL.params}, arrays["inputs"],
                    arrays[block + "h0"], upstream=self.case.upstream, seed=self.case.seed)
        return HypothesisPool(case, reference(case, "numpy", "bptt").numpy(),
                              Layout(_CANONICAL, rnn))

    def _single_layer(self, ua: UserArray, got: np.ndarray) -> list[Candidate]:
        """The single-layer pool's candidates for ``ua``, in the user's view."""
        pool, got_canonical = self.single_layer, ua.to_canonical(got)
        if pool is None or got_canonical is None:
            return []
        name = locate(ua.canonical).parameter
        return [
            dataclasses.replace(c, value=ua.from_canonical({ua.canonical: c.value}),
                                per_step=None)
            for c in pool.candidates(name, (name,), got_canonical)
        ]

    def candidates(self, ua: UserArray, got: np.ndarray) -> list[Candidate]:
        R = ua.from_canonical(self.ref)
        full = np.asarray(self.ref[ua.canonical])
        where = locate(ua.canonical)
        gates = GATES.get(self.spec.cell)
        n_h = self.spec.n_h
        out: list[Candidate] = []

        def view(value: np.ndarray) -> np.ndarray:
            return ua.from_canonical({**self.ref, ua.canonical: value})

        if R.ndim == 2:
            out.append(Candidate("transposed", "transposed", R.T))
        is_gated = gates is not None and where.parameter in ("W_xh", "W_hh", "b_xh", "b_hh")
        if is_gated and ua.rows is None and where.parameter == "W_hh":
            assert gates is not None
            blocks = [full[k * n_h : (k + 1) * n_h].T for k in range(len(gates))]
            out.append(Candidate("transposed", "each gate block is transposed",
                                 view(np.concatenate(blocks, axis=0))))
        out.append(Candidate("negated", "negated (wrong sign)", -R))
        for symbol, factor in self._factors():
            out.append(Candidate("scaled", f"scaled by {symbol}", factor * R,
                                 params={"factor": symbol, "factor_value": factor}))
        out.append(Candidate("zero", "zero", np.zeros_like(R)))
        if is_gated and ua.rows is None:
            assert gates is not None
            for perm in itertools.permutations(range(len(gates))):
                if perm == tuple(range(len(gates))):
                    continue
                order = tuple(gates[k] for k in perm)
                value = np.concatenate([full[k * n_h : (k + 1) * n_h] for k in perm], axis=0)
                detail = (f"gate blocks in order ({', '.join(order)}) instead of torch's "
                          f"({', '.join(gates)})")
                known = KNOWN_ORDERS.get((self.spec.cell, order))
                if known:
                    detail += f" — {known}"
                out.append(Candidate("gates_permuted", detail, view(value),
                                     params={"order": ", ".join(order)}))
        out.extend(self._swaps(ua, where))
        if ua.canonical in self.cut:
            out.append(Candidate(
                "local_only",
                "recurrent term missing (no gradient from step t+1 to step t in any block; "
                "truncated BPTT with k = 1)",
                ua.from_canonical(self.cut),
            ))
        return out + self._single_layer(ua, got)

    def _swaps(self, ua: UserArray, where: Location) -> list[Candidate]:
        out: list[Candidate] = []
        for other in self.arrays.values():
            if other.name == ua.name or other.canonical == ua.canonical:
                continue
            there = locate(other.canonical)
            value = other.from_canonical(self.ref)
            same_view = (other.rows, other.transposed) == (ua.rows, ua.transposed)
            if where.layer is not None and there.parameter == where.parameter and same_view:
                if there.layer == where.layer and there.direction != where.direction:
                    out.append(Candidate(
                        "directions_swapped",
                        f"holds the {there.direction} direction's gradient (directions "
                        f"swapped; that is {other.name!r})",
                        value, params={"swapped_with": other.name},
                    ))
                    continue
                if there.direction == where.direction and there.layer != where.layer:
                    out.append(Candidate(
                        "layers_swapped",
                        f"holds layer {there.layer}'s gradient (layers swapped; that is "
                        f"{other.name!r})",
                        value, params={"swapped_with": other.name},
                    ))
                    continue
            out.append(Candidate("swapped", f"holds the gradient of {other.name!r} "
                                 f"({other.mapping})", value, params={"swapped_with": other.name}))
            if value.ndim == 2:
                out.append(Candidate("swapped", f"holds the gradient of {other.name!r}, "
                                     "transposed", value.T,
                                     params={"swapped_with": other.name}))
        return out

    def _factors(self) -> list[tuple[str, float]]:
        T, B = self.T, self.B
        named: list[tuple[str, float]] = [("2", 2.0), ("1/2", 0.5), (f"T = {T}", float(T)),
                                          (f"1/T = 1/{T}", 1 / T)]
        if B > 1:
            named += [(f"B = {B}", float(B)), (f"1/B = 1/{B}", 1 / B)]
        out: list[tuple[str, float]] = []
        for symbol, value in named:
            for sign, prefix in ((1.0, ""), (-1.0, "−")):
                v = sign * value
                if abs(v) != 1.0 and all(v != o[1] for o in out):
                    out.append((prefix + symbol, v))
        return out


def diagnose_network(
    got: np.ndarray,
    reference: np.ndarray,
    candidates: list[Candidate],
    atol: float,
    rtol: float,
    where: Location,
) -> Diagnosis:
    """The best-fitting candidate for ``got``; its detail starts with ``where``."""
    norm = max(_norm(got), _norm(reference), 1e-300)
    same_shape = got.shape == reference.shape
    ref_res = _norm(got - reference) / norm if same_shape else float("inf")
    scored: list[tuple[bool, float, int, Candidate]] = []
    for cand in candidates:
        if cand.value.shape != got.shape:
            continue
        if cand.value.shape == reference.shape and judge(cand.value, reference, atol, rtol).passed:
            continue  # indistinguishable from the right answer
        exact = judge(got, cand.value, atol, rtol).passed
        scored.append((not exact, _norm(got - cand.value) / norm, ORDER.index(cand.cause), cand))
    scored.sort(key=lambda s: (s[0], s[2], s[1]) if not s[0] else (s[0], s[1], s[2]))
    alternatives = _alternatives(scored)
    if not scored:
        return _unknown(ref_res, alternatives, where, "no hypothesis gives an array of this shape")
    inexact, res, _, best = scored[0]
    runner_up = next((s[1] for s in scored[1:] if s[3].cause != best.cause), float("inf"))
    if inexact and not (res <= 0.1 * ref_res and res <= 0.5 * runner_up):
        return _unknown(
            ref_res, alternatives, where,
            f"closest: {best.cause} ({best.detail}) with relative residual {res:.2g} against "
            f"{ref_res:.2g} for the reference and {runner_up:.2g} for the next cause",
        )
    evidence = (
        f"{'matches' if not inexact else 'is close to'} the reference transformed by this "
        f"slip: relative residual {res:.2g}"
        + (f" (the reference's is {ref_res:.2g}" if np.isfinite(ref_res) else " (")
        + (f", the next cause's {runner_up:.2g})" if np.isfinite(runner_up) else ")")
    )
    return Diagnosis(
        cause=best.cause,
        detail=f"{where}: {best.detail}",
        confidence="approximate" if inexact else "exact",
        residual=res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=NETWORK_HINTS[best.cause],
        params={**_where_params(where), **best.params},
        alternatives=alternatives,
    )


def _where_params(where: Location) -> dict[str, Any]:
    return {"layer": where.layer, "direction": where.direction, "parameter": where.parameter}


def _unknown(
    ref_res: float, alternatives: tuple[tuple[str, str, float], ...], where: Location,
    evidence: str,
) -> Diagnosis:
    return Diagnosis(
        cause="unknown",
        detail=f"{where}: {NETWORK_CAUSES['unknown']}",
        confidence="none",
        residual=ref_res,
        reference_residual=ref_res,
        evidence=evidence,
        hint=NETWORK_HINTS["unknown"],
        params=_where_params(where),
        alternatives=alternatives,
    )


def _norm(a: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=np.float64)))))
    return value if np.isfinite(value) else float("inf")
