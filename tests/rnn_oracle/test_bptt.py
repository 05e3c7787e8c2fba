"""The hand-derived BPTT against independent computations."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_oracle import RNNSpec, discrepancy, make_case, reference
from rnn_oracle.compare import FD_ESTIMATE_FACTOR, FLOAT64_RTOL, term_scales
from rnn_oracle.model import activation_derivative
from tests.rnn_oracle.untied import hidden_grad_by_complex_step, per_step_by_complex_step
from tests.strategies import case_args


def assert_close(actual, expected, rtol: float, what: str, scale: float = 0.0) -> None:
    """Normwise relative error within ``rtol``, measured against ``scale`` where given: the
    term scale of the sums (``compare.term_scales``), which bounds what rounding can do
    to a correct result — ``1 − h²`` loses digits when the cell saturates, float64 too."""
    d = discrepancy(actual, expected, scale=scale)
    assert d.error <= rtol, (
        f"{what}: normwise relative error {d.error:.3e} > {rtol:.0e}; worst at {d.index}: "
        f"{d.value!r} vs {d.expected!r}"
    )


@given(case_args(max_seq_len=12, max_scale=4.0))
def test_bptt_matches_complex_step(args: dict) -> None:
    case = make_case(**args)
    bptt = reference(case, method="bptt")
    cs = reference(case, method="complex_step")
    scales = term_scales(case)
    assert set(bptt.grads) == set(case.input_names) == set(cs.grads)
    assert abs(float(bptt.loss) - float(cs.loss)) <= 1e-12 * max(1.0, abs(float(cs.loss)))
    for name in case.input_names:
        assert_close(bptt.grads[name], cs.grads[name], FLOAT64_RTOL, name, scales[name])


@given(case_args(max_seq_len=6, max_scale=1.5))
@settings(max_examples=15)
def test_bptt_matches_finite_differences_within_their_error(args: dict) -> None:
    case = make_case(**args)
    bptt = reference(case, method="bptt")
    fd = reference(case, method="finite_difference")
    assert fd.error is not None
    for name in case.input_names:
        err = np.asarray(fd.error[name])
        scale = max(float(np.max(np.abs(bptt.grads[name]))), 1e-300)
        # The comparison is only worth something if the differences are accurate.
        assert np.max(err) <= 1e-5 * max(scale, 1.0), f"{name}: FD too inaccurate to judge"
        diff = np.abs(np.asarray(bptt.grads[name]) - np.asarray(fd.grads[name]))
        worst = np.unravel_index(np.argmax(diff / (err + 1e-300)), diff.shape)
        assert np.all(diff <= FD_ESTIMATE_FACTOR * err), (
            f"{name}{worst}: |bptt - fd| = {diff[worst]:.2e} exceeds "
            f"{FD_ESTIMATE_FACTOR:g} x estimate {err[worst]:.2e}"
        )


@given(case_args(max_size=4, max_seq_len=5), st.data())
@settings(max_examples=15)
def test_per_step_contributions_are_the_untied_gradients(args: dict, data: st.DataObject) -> None:
    """``∇^{(t)}`` is ∂J/∂θ^{(t)} for a copy of θ used at step t only; they sum to ∂J/∂θ."""
    case = make_case(**args)
    ref = reference(case)
    cs = reference(case, method="complex_step")
    scales = term_scales(case)
    for name in case.spec.param_names:
        assert ref.per_step[name].shape == (case.seq_len, *case.params[name].shape)
        assert_close(np.sum(ref.per_step[name], axis=0), cs.grads[name], FLOAT64_RTOL, name,
                     scales[name])
    t = data.draw(st.integers(0, case.seq_len - 1), label="t")
    for name in case.spec.param_names:
        independent = per_step_by_complex_step(case, name, t)
        assert_close(ref.per_step[name][t], independent, FLOAT64_RTOL, f"{name} step {t}",
                     scales[name])


@given(case_args(max_size=4, max_seq_len=6))
@settings(max_examples=15)
def test_hidden_state_gradients_obey_dlbook_10_21(args: dict) -> None:
    """``∇_{h(t)} L = W_hhᵀ diag(phi'(a_{t+1})) ∇_{h(t+1)} L + W_hyᵀ ∇_{o(t)} L``."""
    case = make_case(**args)
    spec = case.spec
    ref = reference(case)
    g = np.asarray(ref.hidden_grads)
    p = case.params
    cs_h0 = reference(case, method="complex_step").grads["h0"]
    # Independent definition first: ∂J/∂δ_t for an additive perturbation of h_t.
    for t in range(case.seq_len):
        assert_close(g[t], hidden_grad_by_complex_step(case, t), FLOAT64_RTOL, f"h({t})")
    # Then the recursion, read off the hand BPTT's own trajectory.
    from backends import get_backend
    from rnn_oracle.derivations.base import to_backend
    from rnn_oracle.model import forward

    on = to_backend(case, get_backend("numpy"))
    traj = forward(spec, on.arrays, on.x, on.arrays["h0"], np,
                   targets=on.targets, upstream=on.upstream)
    w = traj.weight
    # The output path: w g_t for head none, else W_hyᵀ ∇_o (batch as rows).
    out = (
        w * case.upstream
        if spec.head == "none"
        else (w * (traj.yhat - on.targets)) @ p["W_hy"]
    )
    dphi = activation_derivative(spec.cell, traj.a, traj.h, np)
    for t in range(case.seq_len - 1):
        recursion = (g[t + 1] * dphi[t + 1]) @ p["W_hh"] + out[t]
        assert_close(g[t], recursion, 1e-12, f"eq. 10.21 at t={t}")
    assert_close(g[-1], out[-1], 1e-12, "eq. 10.21 at t=T")
    assert_close((g[0] * dphi[0]) @ p["W_hh"], cs_h0, FLOAT64_RTOL, "h0 from h(1)")


@given(case_args(max_size=4, max_seq_len=5), st.data())
@settings(max_examples=15)
def test_local_partials_hold_earlier_states_fixed(args: dict, data: st.DataObject) -> None:
    """seed 000's ``∂J^{(t)}/∂θ|_t``: step t's term of J through step t's copy of θ only."""
    case = make_case(**args)
    ref = reference(case)
    scales = term_scales(case)
    t = data.draw(st.integers(0, case.seq_len - 1), label="t")
    for name in case.spec.param_names:
        independent = per_step_by_complex_step(case, name, t, only_step=t)
        assert_close(ref.local[name][t], independent, FLOAT64_RTOL, f"local {name} at {t}",
                     scales[name])


def test_local_partial_differs_from_per_step_when_there_is_recurrence() -> None:
    case = make_case(RNNSpec(n_h=4), 4, seed=3)
    ref = reference(case)
    # At t < T the per-step contribution includes what flows back from later steps.
    assert discrepancy(ref.local["W_hh"][0], ref.per_step["W_hh"][0]).error > 1e-3
    # At t = T nothing flows back: they coincide.
    assert_close(ref.local["W_hh"][-1], ref.per_step["W_hh"][-1], 1e-15, "t = T")
