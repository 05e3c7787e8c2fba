"""The seeds' formulas against the frameworks' autodiff (torch and JAX, where installed).

Each test states the quantity as a function in the seed's own notation, differentiates it
with the backend's reverse mode or Jacobian, and compares with the closed form and with
what rnn-oracle returns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from backends import available_backends, get_backend
from rnn_oracle import RNNSpec, discrepancy, make_case, reference

AUTODIFF = [b for b in ("torch", "jax") if b in available_backends()]
pytestmark = pytest.mark.skipif(not AUTODIFF, reason="needs torch or jax")


@pytest.fixture(params=AUTODIFF)
def be(request: pytest.FixtureRequest) -> Iterator[object]:
    backend = get_backend(request.param)
    with backend.precision("float64"):
        yield backend


def np_(be, x) -> np.ndarray:
    return be.to_numpy(x)


@pytest.mark.parametrize("loss_sign", ["standard", "negated"])
def test_seed000_local_partial_against_autodiff(be, loss_sign: str) -> None:
    """∂J^{(t)}/∂H |_t with h^{(t-1)} held fixed: differentiate step t alone, in rows."""
    spec = RNNSpec(cell="sigmoid", n_x=3, n_h=4, n_y=5, loss_sign=loss_sign)
    case = make_case(spec, 3, seed=9)
    ref = reference(case)
    xp = be.xp
    p = case.params
    sign = 1.0 if loss_sign == "standard" else -1.0
    h_prev = case.h0
    for t in range(case.seq_len):
        e, y = case.inputs[t], np.eye(5)[case.targets[t]]
        consts = {k: be.asarray(v) for k, v in
                  {"h": h_prev, "e": e, "I": p["W_xh"].T, "b1": p["b_h"], "U": p["W_hy"].T,
                   "b2": p["b_y"], "y": y}.items()}

        def J_t(H, c=consts):
            h = 1.0 / (1.0 + xp.exp(-(c["h"] @ H + c["e"] @ c["I"] + c["b1"])))
            z = h @ c["U"] + c["b2"]
            log_yhat = z - xp.log(xp.sum(xp.exp(z)))
            return -sign * xp.sum(c["y"] * log_yhat)

        _, (dH,) = be.value_and_grad(J_t, [be.asarray(p["W_hh"].T)])
        assert discrepancy(np_(be, dH), ref.local["W_hh"][t].T).error < 1e-13, t
        h_prev = 1 / (1 + np.exp(-(p["W_hh"] @ h_prev + p["W_xh"] @ e + p["b_h"])))


def test_seed001_kronecker_factors_against_autodiff(be) -> None:
    """f = W_hxᵀ e₁ with w = vec(W_hxᵀ): numerator ∂f/∂w = e₁ᵀ ⊗ I; denominator
    ∂h₁/∂w = (e₁ ⊗ I) diag(1 − h₁²)."""
    rng = np.random.default_rng(1)
    n_i, n_h = 3, 4
    e1, h0 = rng.standard_normal(n_i), rng.standard_normal(n_h)
    W_hx, W_hh = rng.standard_normal((n_i, n_h)), rng.standard_normal((n_h, n_h))
    xp = be.xp
    e1_, h0_, W_hh_ = be.asarray(e1), be.asarray(h0), be.asarray(W_hh)

    def unvec(w):
        return xp.permute_dims(xp.reshape(w, (n_i, n_h)), (1, 0))

    w = W_hx.T.reshape(-1, order="F")  # vec(W_hxᵀ)
    f_jac = np_(be, be.jacobian(lambda v: unvec(v) @ e1_, be.asarray(w)))
    assert np.allclose(f_jac, np.kron(e1[None, :], np.eye(n_h)), rtol=0, atol=1e-15)
    h1 = np.tanh(W_hx.T @ e1 + W_hh.T @ h0)
    h_jac = np_(be, be.jacobian(lambda v: xp.tanh(unvec(v) @ e1_ + W_hh_.T @ h0_),
                                be.asarray(w)))
    denominator = np.kron(e1[:, None], np.eye(n_h)) @ np.diag(1 - h1**2)
    assert discrepancy(h_jac.T, denominator).error < 1e-14
    # The asker's (e₁ᵀ ⊗ I) diag(1 − h₁²): (n_h × n_i·n_h) times (n_h × n_h) — no product.
    assert np.kron(e1[None, :], np.eye(n_h)).shape[1] != np.diag(1 - h1**2).shape[0]


def test_seed002_step_jacobian_against_autodiff(be) -> None:
    case = make_case(RNNSpec(cell="tanh", n_x=3, n_h=5, head="none"), 2, seed=4)
    p = case.params
    W, U, b = (be.asarray(p[k]) for k in ("W_hh", "W_xh", "b_h"))
    x = be.asarray(case.inputs[1])
    h1 = np.tanh(p["W_hh"] @ case.h0 + p["W_xh"] @ case.inputs[0] + p["b_h"])
    jac = np_(be, be.jacobian(lambda h: be.xp.tanh(U @ x + W @ h + b), be.asarray(h1)))
    h2 = np.tanh(p["W_hh"] @ h1 + p["W_xh"] @ case.inputs[1] + p["b_h"])
    assert discrepancy(jac, np.diag(1 - h2**2) @ p["W_hh"]).error < 1e-14
    assert discrepancy(jac, (1 - h2[:, None] ** 2) * p["W_hh"]).error < 1e-14


def test_seed003_per_step_gradients_against_autodiff(be) -> None:
    """∇^{(t)} as ∂J/∂W^{(t)} for step t's own copy of each weight, in seed 003's layout
    (numerator-layout Jacobians are their transposes)."""
    spec = RNNSpec(cell="tanh", n_x=3, n_h=4, n_y=5)
    case = make_case(spec, 4, seed=8)
    ref = reference(case)
    xp = be.xp
    P = {"W_aa": case.params["W_hh"].T, "W_ax": case.params["W_xh"].T, "b_a": case.params["b_h"],
         "W_ya": case.params["W_hy"].T, "b_y": case.params["b_y"]}
    canonical = {"W_aa": "W_hh", "W_ax": "W_xh", "b_a": "b_h", "W_ya": "W_hy", "b_y": "b_y"}
    X = be.asarray(case.inputs)
    Y = be.asarray(np.eye(5)[case.targets])
    names = list(P)
    for t in range(case.seq_len):
        def J(*step_t, t=t):
            q = {n: be.asarray(P[n]) for n in names}
            a = be.asarray(case.h0)
            total = 0.0
            for k in range(case.seq_len):
                w = dict(zip(names, step_t, strict=True)) if k == t else q
                a = xp.tanh(w["W_aa"].T @ a + w["W_ax"].T @ X[k] + w["b_a"])
                z = w["W_ya"].T @ a + w["b_y"]
                total = total - xp.sum(Y[k] * (z - xp.log(xp.sum(xp.exp(z)))))
            return total

        _, grads = be.value_and_grad(J, [be.asarray(P[n]) for n in names])
        for n, g in zip(names, grads, strict=True):
            ours = ref.per_step[canonical[n]][t]
            ours = ours.T if n.startswith("W") else ours  # ∇_{W_aa} = (∇_{W_hh})ᵀ
            assert discrepancy(np_(be, g), ours).error < 1e-13, (n, t)
