"""Properties specific to single derivation variants."""

from __future__ import annotations

import numpy as np
import pytest

import conventions
from backends import get_backend
from rnn_oracle import OracleError, RNNSpec, discrepancy, make_case, reference
from rnn_oracle.derivations import common, jacobian_chain, kronecker, rtrl

numpy_backend = get_backend("numpy")


def test_jacobian_chain_step_jacobian_is_seed002_formula() -> None:
    case = make_case(RNNSpec(cell="tanh", n_h=5, head="none"), 3, seed=1)
    s = common.start(case, numpy_backend)
    jac = jacobian_chain.step_jacobians(np, s.dphi, case.params["W_hh"])
    h = s.traj.h
    for t in range(3):
        expected = (1 - h[t][:, None] ** 2) * case.params["W_hh"]  # (1 − h_{t,i}²) w_ij
        assert np.allclose(jac[t], expected, rtol=1e-15, atol=0)


def test_jacobian_chain_gives_hidden_gradients_and_per_step() -> None:
    case = make_case(RNNSpec(), 6, batch=2, seed=3)
    chain = reference(case, method="jacobian_chain")
    bptt = reference(case, method="bptt")
    assert discrepancy(chain.hidden_grads, bptt.hidden_grads).error < 1e-13
    assert discrepancy(chain.per_step["W_hh"], bptt.per_step["W_hh"]).error < 1e-13


def test_kronecker_never_materializes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Kronecker variant formed a Kronecker product")

    monkeypatch.setattr(conventions.LinearOperator, "materialize", refuse)
    case = make_case(RNNSpec(n_x=8, n_h=64, n_y=8), 4, batch=2, seed=0)
    result = reference(case, method="kronecker")
    truth = reference(case, method="bptt")
    assert discrepancy(result.grads["W_hh"], truth.grads["W_hh"]).error < 1e-12


def test_kronecker_parameter_gradient_is_the_seed001_factor() -> None:
    """One row: (hᵀ ⊗ I)ᵀ δ = vec(δ hᵀ)."""
    rng = np.random.default_rng(0)
    h, delta = rng.standard_normal((1, 3)), rng.standard_normal((1, 4))
    dense = np.kron(h, np.eye(4)).T @ delta[0]  # (h ⊗ I) δ, materialised here only
    got = kronecker.parameter_gradient(np, delta, h)
    assert np.allclose(got, np.outer(delta[0], h[0]))
    assert np.allclose(conventions.vec(got), dense)


def test_differential_keeps_the_normalisation_factor() -> None:
    """∂ℓ/∂z = ŷ(1ᵀy) − y: with one-hot targets it is ŷ − y, checked against complex step."""
    case = make_case(RNNSpec(n_y=4), 3, seed=2)
    d = reference(case, method="differential")
    cs = reference(case, method="complex_step")
    assert discrepancy(d.grads["b_y"], cs.grads["b_y"]).error < 1e-13


def test_rtrl_refuses_past_its_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    case = make_case(RNNSpec(n_h=16), 4, batch=2, seed=0)
    needed = rtrl.memory_estimate(case)
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", needed - 1)
    with pytest.raises(OracleError, match=r"rtrl: the forward sensitivities .* need about"):
        reference(case, method="rtrl")
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", needed)
    reference(case, method="rtrl")


def test_rtrl_memory_grows_like_n_h_cubed() -> None:
    small = rtrl.memory_estimate(make_case(RNNSpec(n_x=1, n_h=8, n_y=2), 1))
    large = rtrl.memory_estimate(make_case(RNNSpec(n_x=1, n_h=32, n_y=2), 1))
    assert 40 < large / small <= 64  # → 4³ as n_h² dominates P


def test_rtrl_sensitivity_is_the_third_order_jacobian() -> None:
    """S_T = ∂h_T/∂W_hh, checked entry by entry with complex step on the forward pass."""
    from rnn_oracle.model import forward

    case = make_case(RNNSpec(n_x=2, n_h=3, head="none"), 3, seed=5)
    s = common.start(case, numpy_backend)
    *_, last = rtrl.sensitivities(s, ("W_hh",))
    S = last["W_hh"][0].reshape(3, 3, 3)  # [k, i, j] = ∂h_{T,k}/∂W_ij
    params = {k: v.astype(complex) for k, v in case.params.items()}
    for i in range(3):
        for j in range(3):
            p = dict(params)
            W = p["W_hh"].copy()
            W[i, j] += 1e-30j
            p["W_hh"] = W
            traj = forward(case.spec, p, case.inputs.astype(complex), case.h0.astype(complex),
                           np, upstream=case.upstream)
            assert np.allclose(S[:, i, j], traj.h[-1].imag / 1e-30, rtol=1e-12, atol=1e-15)
