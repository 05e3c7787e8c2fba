"""The gated slips' hand BPTT (:mod:`rnn_oracle.oracle.gate_variants`): without a slip it
is the reference, every slip changes something, per-step contributions add up and sit in
sequence time, and the gate map reads a gate's own block."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pytest

from rnn_oracle.architectures import NetworkSpec, bptt
from rnn_oracle.architectures.case import make_network_case
from rnn_oracle.architectures.model import forward
from rnn_oracle.oracle import check_network_gradients
from rnn_oracle.oracle.diagnosis import diagnose
from rnn_oracle.oracle.gate_variants import (
    NO_SLIP,
    WEIGHT_KINDS,
    GatedVariants,
    gate_slips,
    slipped_step,
)
from rnn_oracle.oracle.hypotheses import NetworkHypotheses
from rnn_oracle.oracle.targets import UserArray

ARCHS = ("many_to_many", "deep_bidirectional")


def _case(cell: str, arch: str, batch: int | None, T: int = 6, seed: int = 1):  # type: ignore[no-untyped-def]
    spec = NetworkSpec(arch, cell=cell, n_x=3, n_h=4, head="none")  # type: ignore[arg-type]
    return make_network_case(spec, T, batch, seed, "float64")


def _reference(case) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    _, grads = bptt.gradients(case.spec, case.arrays, np, upstream=case.upstream)
    return {k: np.asarray(v) for k, v in grads.items()}


@pytest.mark.parametrize(("cell", "arch", "batch"),
                         list(itertools.product(("lstm", "gru"), ARCHS, (2, None))))
def test_no_slip_is_the_reference(cell: str, arch: str, batch: int | None) -> None:
    case = _case(cell, arch, batch)
    ref = _reference(case)
    gv = GatedVariants(case)
    # the step derived anew, gate by gate, against cells.step_backward
    mine = bptt.backward(case.spec, gv.arrays, gv.traj, np, upstream=gv.upstream,
                         backward_step=partial(slipped_step, NO_SLIP))
    for name, expected in ref.items():
        np.testing.assert_allclose(mine[name], expected, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(gv.value(NO_SLIP, name), expected, rtol=1e-12, atol=1e-13)
        steps = gv.steps(NO_SLIP, name)
        if steps is not None:
            assert steps.shape == (case.seq_len, *expected.shape)
            np.testing.assert_allclose(steps.sum(axis=0), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_slip_changes_something_and_weight_slips_only_their_arrays(cell: str) -> None:
    case = _case(cell, "bidirectional", 2)
    ref = _reference(case)
    gv = GatedVariants(case)
    for slip in gate_slips(cell):
        changed = {name for name, expected in ref.items()
                   if (value := gv.value(slip, name)) is not None
                   and not np.allclose(value, expected, rtol=1e-9, atol=1e-12)}
        assert changed, slip
        if slip.kind in WEIGHT_KINDS:
            allowed = {"b_xh", "b_hh"} if slip.kind == "bias_one_step" else {"W_hh"}
            assert {n.rpartition(".")[2] for n in changed} <= allowed, slip
        assert slip.cause and slip.detail


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_per_step_contributions_are_in_sequence_time(cell: str) -> None:
    # With an upstream gradient at time s only, nothing reaches a forward block's steps
    # after s or a backward block's steps before s: the backward sweep goes against each
    # block's own direction. (A property of the network, not of the code under test.)
    case = _case(cell, "bidirectional", 2, T=6)
    s = 3
    upstream = np.zeros_like(case.upstream)
    upstream[s] = case.upstream[s]
    case = type(case)(case.spec, case.arrays, upstream=upstream, seed=case.seed)
    gv = GatedVariants(case)
    for direction, silent in (("forward", slice(s + 1, None)), ("backward", slice(0, s))):
        steps = gv.steps(NO_SLIP, f"layer0.{direction}.b_xh")
        assert steps is not None
        assert np.all(steps[silent] == 0.0)
        assert np.any(steps[s] != 0.0)


def test_gate_map_of_a_gate_block_view() -> None:
    # A Flax-style view: one gate's rows, transposed (``ir.kernel`` is W_ir transposed).
    case = _case("gru", "many_to_many", 2, T=5)
    ref = _reference(case)
    ua = UserArray("iz.kernel", "layer0.forward.W_xh", rows=(4, 8), gate="z", transposed=True)
    pool = NetworkHypotheses(case, ref, {"iz.kernel": ua})
    slip = next(s for s in gate_slips("gru") if s.kind == "update_sign")
    value = pool.gated.value(slip, ua.canonical)  # type: ignore[union-attr]
    got = ua.from_canonical({ua.canonical: value})
    atol = 1e-10
    d = diagnose(got, ua.from_canonical(ref), pool.candidates(ua, got), atol, 1e-10,
                 where=None)
    assert (d.cause, d.params.get("gate")) == ("update_gate", "z")
    m = pool.gate_map(ua, got, atol, d)
    assert m is not None and m.gates == ("z",)
    assert m.steps is not None and m.steps.shape == (1, case.seq_len)
    assert m.starts == case.seq_len - 1  # the sign slip is there from the first step back
    assert m.gate_errors.shape == (1,) and m.gate_errors[0] > 1.0


def test_a_backward_blocks_slip_starts_at_its_own_first_step() -> None:
    # The stand-in for a user's bidirectional LSTM is the forget-gate slip's own BPTT; what
    # is tested is where the map says it starts. A forward block's backward pass visits
    # T − 1 first, a backward block's visits 0 first; nothing is carried into the first
    # step visited, so the missing forget gate first shows one step further on.
    spec = NetworkSpec("bidirectional", cell="lstm", n_x=3, n_h=4, head="none")
    slip = next(s for s in gate_slips("lstm") if s.kind == "no_forget")

    def fn(params, inputs, states, upstream):  # type: ignore[no-untyped-def]
        arrays = {**params, **states, "inputs": inputs}
        traj = forward(spec, arrays, np, upstream=upstream)
        return bptt.backward(spec, arrays, traj, np, upstream=upstream,
                             backward_step=partial(slipped_step, slip))

    T = 6
    report = check_network_gradients(fn, spec=spec, cases=1, seq_len=T)
    for name, starts in (("layer0.forward.W_xh", T - 2), ("layer0.backward.W_xh", 1)):
        m = report[name].gate_map
        assert m is not None and m.starts == starts, (name, m)
