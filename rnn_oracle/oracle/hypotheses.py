"""The hypotheses of the diagnosis: what an implementation with a named slip returns.

Every candidate is computed independently of the user's answer, from the float64 case:

* :class:`HypothesisPool`, for a vanilla block (the single-layer RNN, or a one-block
  vanilla network): transforms of the reference (transpose, sign, scale, zero, clip, one
  step's contribution, another parameter's gradient) and hand BPTT with the slip built in
  (:mod:`rnn_oracle.oracle.variants`: truncations from one cumulative pass, wrong
  derivatives, off-by-one states, a transposed recursion);
* :class:`NetworkHypotheses`, per block and gate of any network: transforms of the
  reference (whole, or per gate block), gate permutations, another block's reference (the
  other direction, another layer, another parameter), the hand BPTT of
  :mod:`rnn_oracle.architectures.bptt` with the recurrence cut; for a GRU or LSTM network
  the gated step's slips, each naming its gate (:mod:`rnn_oracle.oracle.gate_variants`),
  whose per-step contributions also give a failing array's gate map; and, for a one-block
  vanilla network, the vanilla block's pool.

:func:`~rnn_oracle.oracle.diagnosis.diagnose` decides between them by numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property, partial
from typing import Any

import numpy as np

from rnn_oracle._reference import reference
from rnn_oracle.architectures import bptt
from rnn_oracle.architectures.case import NetworkCase
from rnn_oracle.architectures.spec import GATES
from rnn_oracle.case import Case
from rnn_oracle.derivations.base import Reference
from rnn_oracle.oracle.diagnosis import Candidate, Diagnosis, Location, locate
from rnn_oracle.oracle.gate_variants import NO_SLIP, GatedVariants, GateSlip, gate_map
from rnn_oracle.oracle.layout import Layout
from rnn_oracle.oracle.report import GateMap
from rnn_oracle.oracle.targets import UserArray
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
from rnn_oracle.params import ParamConvention
from rnn_oracle.spec import RNNSpec


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
                    "truncated", f"each step's loss reaches back only k = {k} steps, its "
                    f"own and the {k - 1} before it (bptt_truncate = {k - 1} in Britz's "
                    "RNNNumpy.bptt)",
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



#: The single-layer arrays under their canonical names, unchanged (the bridge's layout).
_CANONICAL = ParamConvention("canonical", {n: n for n in ("W_xh", "W_hh", "b_h")})

#: Named gate orders of other frameworks, by cell and order.
KNOWN_ORDERS: dict[tuple[str, tuple[str, ...]], str] = {
    ("gru", ("z", "r", "n")): "Keras's GRU order (z, r, h)",
    ("lstm", ("i", "g", "f", "o")): "TensorFlow 1's LSTMCell order (i, j, f, o)",
    ("lstm", ("i", "f", "o", "g")): "the (i, f, o, g) order of some hand-written LSTMs",
}


def _permuted_blocks(perm: tuple[int, ...], n_h: int, a: np.ndarray) -> np.ndarray:
    """``a``'s gate blocks (of ``n_h`` rows) in the order ``perm``."""
    return np.concatenate([a[k * n_h : (k + 1) * n_h] for k in perm], axis=0)


def _view_steps(ua: UserArray, stack: np.ndarray | None) -> np.ndarray | None:
    """A canonical per-step stack ``(T, *shape)`` in the user's view of each step."""
    if stack is None:
        return None
    return np.stack([ua.from_canonical({ua.canonical: s}) for s in stack])


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
        if (spec.architecture != "many_to_many" or len(spec.blocks()) != 1
                or not spec.hand_bptt or spec.cell in GATES):
            return None
        rnn = RNNSpec(cell=spec.cell, n_x=spec.n_x, n_h=spec.n_h, head="none")
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

    @cached_property
    def gated(self) -> GatedVariants | None:
        """The gated slips' hand BPTT of a GRU or LSTM network, else ``None``."""
        return GatedVariants(self.case) if self.spec.cell in GATES else None

    def reference_steps(self, ua: UserArray) -> np.ndarray | None:
        """The per-step reference contributions ``(T, *user shape)`` of a gated block
        parameter (sequence time), else ``None``."""
        return None if self.gated is None else _view_steps(
            ua, self.gated.steps(NO_SLIP, ua.canonical))

    def _transformed_steps(
        self, ua: UserArray, user: Callable[[np.ndarray], np.ndarray] | None = None,
        canonical: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """A transform of the reference, step by step: ``canonical`` applied to each step's
        canonical contribution before the user's view, ``user`` after it."""
        assert self.gated is not None
        stack = self.gated.steps(NO_SLIP, ua.canonical)
        if stack is None:
            return None
        if canonical is not None:
            stack = np.stack([canonical(s) for s in stack])
        viewed = _view_steps(ua, stack)
        assert viewed is not None
        return viewed if user is None else np.stack([user(s) for s in viewed])

    def candidates(self, ua: UserArray, got: np.ndarray) -> list[Candidate]:
        R = ua.from_canonical(self.ref)
        full = np.asarray(self.ref[ua.canonical])
        where = locate(ua.canonical)
        gates = GATES.get(self.spec.cell)
        n_h = self.spec.n_h
        out: list[Candidate] = []

        def view(value: np.ndarray) -> np.ndarray:
            return ua.from_canonical({**self.ref, ua.canonical: value})

        def steps(user: Callable[[np.ndarray], np.ndarray] | None = None,
                  canonical: Callable[[np.ndarray], np.ndarray] | None = None,
                  ) -> Callable[[], np.ndarray | None] | None:
            # the winner's per-step stack, where the gated sweep gives the reference's
            if self.gated is None:
                return None
            return partial(self._transformed_steps, ua, user, canonical)

        if R.ndim == 2:
            out.append(Candidate("transposed", "transposed", R.T, later_steps=steps(np.transpose)))
        is_gated = gates is not None and where.parameter in ("W_xh", "W_hh", "b_xh", "b_hh")
        if is_gated and ua.rows is None and where.parameter == "W_hh":
            assert gates is not None

            def blocks_transposed(a: np.ndarray) -> np.ndarray:
                return np.concatenate([a[k * n_h : (k + 1) * n_h].T for k in range(len(gates))])

            out.append(Candidate("transposed", "each gate block is transposed",
                                 view(blocks_transposed(full)),
                                 later_steps=steps(canonical=blocks_transposed)))
        out.append(Candidate("negated", "negated (wrong sign)", -R,
                             later_steps=steps(np.negative)))
        for symbol, factor in self._factors():
            out.append(Candidate("scaled", f"scaled by {symbol}", factor * R,
                                 params={"factor": symbol, "factor_value": factor},
                                 later_steps=steps(partial(np.multiply, factor))))
        out.append(Candidate("zero", "zero", np.zeros_like(R), later_steps=steps(np.zeros_like)))
        if is_gated and ua.rows is None:
            assert gates is not None
            for perm in itertools.permutations(range(len(gates))):
                if perm == tuple(range(len(gates))):
                    continue
                order = tuple(gates[k] for k in perm)
                permuted = partial(_permuted_blocks, perm, n_h)
                detail = (f"gate blocks in order ({', '.join(order)}) instead of torch's "
                          f"({', '.join(gates)})")
                known = KNOWN_ORDERS.get((self.spec.cell, order))
                if known:
                    detail += f" — {known}"
                out.append(Candidate("gates_permuted", detail, view(permuted(full)),
                                     params={"order": ", ".join(order)},
                                     later_steps=steps(canonical=permuted)))
        out.extend(self._swaps(ua, where))
        if ua.canonical in self.cut:
            out.append(Candidate(
                "local_only",
                "recurrent term missing (no gradient from step t+1 to step t in any block; "
                "truncated BPTT with k = 1)",
                ua.from_canonical(self.cut),
                later_steps=None if self.gated is None else partial(
                    self._gated_steps, ua, None),
            ))
        return out + self._gated_slips(ua) + self._single_layer(ua, got)

    def _gated_slips(self, ua: UserArray) -> list[Candidate]:
        """The gated cell's slips (:mod:`rnn_oracle.oracle.gate_variants`) for ``ua``, each
        naming its gate; those that leave the array as it is are not candidates."""
        gv = self.gated
        if gv is None:
            return []
        out = []
        for slip in gv.slips:
            value = gv.value(slip, ua.canonical)
            if value is None:
                continue
            out.append(Candidate(slip.cause, slip.detail, ua.from_canonical({ua.canonical: value}),
                                 params=self._slip_params(ua, slip),
                                 later_steps=partial(self._gated_steps, ua, slip)))
        return out

    def _slip_params(self, ua: UserArray, slip: GateSlip) -> dict[str, Any]:
        """The slip's gate and, for a bias that keeps one step, that step's time (a
        backward block's loop runs from time 0 up)."""
        params = slip.params
        if slip.kind == "bias_one_step":
            first_step = (slip.option == "last") != (locate(ua.canonical).direction == "backward")
            params["step"] = 0 if first_step else self.T - 1
        return params

    def _gated_steps(self, ua: UserArray, slip: GateSlip | None) -> np.ndarray | None:
        """A gated slip's per-step stack in the user's view (``None``: the cut recurrence)."""
        gv = self.gated
        assert gv is not None
        stack = gv.cut_steps(ua.canonical) if slip is None else gv.steps(slip, ua.canonical)
        return _view_steps(ua, stack)

    def gate_map(
        self, ua: UserArray, got: np.ndarray, atol: float, diagnosis: Diagnosis | None
    ) -> GateMap | None:
        """The per-gate, per-step disagreement of a failing gated block parameter
        (:func:`~rnn_oracle.oracle.gate_variants.gate_map`), else ``None``."""
        where = locate(ua.canonical)
        if self.gated is None and not self.spec.hand_bptt:
            # your own cell's declared gate rows (rnn_oracle.Cell.gates): per gate block
            own = self.spec.cell_def.gates.get(where.parameter)
            return None if own is None else gate_map(
                gates=own, gate_axis=1 if ua.transposed else 0, got=got,
                reference=ua.from_canonical(self.ref), atol=atol, reference_steps=None,
                candidate_steps=None, diagnosis=diagnosis,
                reversed_block=where.direction == "backward")
        if self.gated is None or where.parameter not in ("W_xh", "W_hh", "b_xh", "b_hh"):
            return None
        return gate_map(
            gates=(ua.gate,) if ua.rows is not None and ua.gate else self.gated.gates,
            gate_axis=1 if ua.transposed else 0,
            got=got, reference=ua.from_canonical(self.ref), atol=atol,
            reference_steps=self.reference_steps(ua),
            candidate_steps=None if diagnosis is None else diagnosis.step_candidate,
            diagnosis=diagnosis, reversed_block=where.direction == "backward",
        )

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
