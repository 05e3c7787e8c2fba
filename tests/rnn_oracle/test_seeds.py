"""The worked formulas of seeds 000, 002 and 003, checked with numbers.

Each seed writes the canonical network in its own notation (DESIGN's conventions
table); the translation to canonical names is spelled out in each test.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn_oracle import RNNSpec, discrepancy, make_case, reference
from rnn_oracle.model import forward
from tests.rnn_oracle.untied import STEP


def _trajectory(case):
    from backends import get_backend
    from rnn_oracle.derivations.base import to_backend

    on = to_backend(case, get_backend("numpy"))
    return forward(case.spec, on.arrays, on.x, on.arrays["h0"], np,
                   targets=on.targets, upstream=on.upstream), on


# --- seed 000 -------------------------------------------------------------------------------
# Row vectors: h = σ(h⁻ H + e I + b1), ŷ = softmax(h U + b2), J = +Σ y log ŷ (literally).
# Canonical: H = W_hhᵀ, I = W_xhᵀ, U = W_hyᵀ.


@pytest.mark.parametrize("loss_sign", ["standard", "negated"])
def test_seed000_local_partial_closed_form(loss_sign: str) -> None:
    spec = RNNSpec(cell="sigmoid", n_x=3, n_h=5, n_y=4, loss_sign=loss_sign)
    case = make_case(spec, seq_len=4, seed=11)
    ref = reference(case)
    traj, on = _trajectory(case)
    U = case.params["W_hy"].T
    for t in range(case.seq_len):
        h_prev = case.h0 if t == 0 else traj.h[t - 1]
        h, y, yhat = traj.h[t], on.targets[t], traj.yhat[t]
        residual = (yhat - y) if loss_sign == "standard" else (y - yhat)
        # h^{(t-1)ᵀ} (ŷ − y) Uᵀ diag(h ∘ (1 − h))  (and (y − ŷ) for the literal plus sign)
        closed = np.outer(h_prev, residual @ U.T @ np.diag(h * (1 - h)))
        dJ_dH_local = ref.local["W_hh"][t].T  # H = W_hhᵀ
        assert discrepancy(dJ_dH_local, closed).error < 1e-13, t


def test_seed000_asker_and_answer_differ_by_the_loss_sign() -> None:
    spec = RNNSpec(cell="sigmoid", n_x=3, n_h=5, n_y=4)
    case = make_case(spec, seq_len=3, seed=5)
    standard = reference(case).local["W_hh"]
    literal = reference(make_case(spec.replace(loss_sign="negated"), 3, seed=5)).local["W_hh"]
    assert np.max(np.abs(standard)) > 1e-3
    assert discrepancy(literal, -standard).error < 1e-15


def test_seed000_differential_answer() -> None:
    """The answer's route: ∂J/∂H = g (yᵀ − wᵀ) Uᵀ (F − F²) for J = y : log w (plus sign)."""
    spec = RNNSpec(cell="sigmoid", n_x=3, n_h=4, n_y=5, loss_sign="negated")
    case = make_case(spec, seq_len=1, seed=2)
    traj, on = _trajectory(case)
    g, f, w, y = case.h0, traj.h[0], traj.yhat[0], on.targets[0]
    F = np.diag(f)
    U = case.params["W_hy"].T
    answer = np.outer(g, (y - w) @ U.T @ (F - F @ F))
    # Independent: complex step on J(H) = y·log softmax(σ(g H + e I + b1) U + b2).
    H0 = case.params["W_hh"].T
    e, N, b1, b2 = case.inputs[0], case.params["W_xh"].T, case.params["b_h"], case.params["b_y"]

    def J(H: np.ndarray) -> complex:
        hh = 1 / (1 + np.exp(-(g @ H + e @ N + b1)))  # the answer renames I to N
        z = hh @ U + b2
        return np.sum(y * (z - np.log(np.sum(np.exp(z)))))

    numeric = np.empty_like(H0)
    for idx in np.ndindex(H0.shape):
        Hc = H0.astype(complex)
        Hc[idx] += 1j * STEP
        numeric[idx] = J(Hc).imag / STEP
    assert discrepancy(answer, numeric).error < 1e-12


# --- seed 002 -------------------------------------------------------------------------------
# h_{t+1} = tanh(U x_t + W h_t): ∂h_{t+1,i}/∂h_{t,j} = (1 − h_{t+1,i}²) w_ij.


def test_seed002_jacobian_is_diag_times_w() -> None:
    spec = RNNSpec(cell="tanh", n_x=3, n_h=5, head="none")
    case = make_case(spec, seq_len=2, seed=4)
    W, U, b = case.params["W_hh"], case.params["W_xh"], case.params["b_h"]
    traj, _ = _trajectory(case)
    h_t, h_next, x = traj.h[0], traj.h[1], case.inputs[1]
    jac = np.empty((5, 5))
    for j in range(5):
        hc = h_t.astype(complex)
        hc[j] += 1j * STEP
        jac[:, j] = np.tanh(U @ x + W @ hc + b).imag / STEP
    assert discrepancy(np.diag(1 - h_next**2) @ W, jac).error < 1e-14
    elementwise = (1 - h_next[:, None] ** 2) * W
    assert discrepancy(elementwise, jac).error < 1e-14
    # The answer's "1 − h²w" without parentheses is a different matrix.
    slip = 1 - h_next[:, None] ** 2 * W
    assert discrepancy(slip, jac).error > 0.1


# --- seed 003 -------------------------------------------------------------------------------
# z_a = W_aaᵀ a⁻ + W_axᵀ x + b_a, ŷ = softmax(W_yaᵀ a + b_y), J = Σ_t −Σ_i y log ŷ.
# Canonical: W_aa = W_hhᵀ, W_ax = W_xhᵀ, W_ya = W_hyᵀ. Numerator layout: ∂J/∂z is a row.


def test_seed003_per_step_gradients() -> None:
    spec = RNNSpec(cell="tanh", n_x=3, n_h=4, n_y=5)
    case = make_case(spec, seq_len=4, seed=8)
    ref = reference(case)
    traj, on = _trajectory(case)
    W_aa, W_ya = case.params["W_hh"].T, case.params["W_hy"].T
    T = case.seq_len
    dJ_da_next = np.zeros(4)  # ∂J/∂a^{(t)} from step t+1, a row
    for t in reversed(range(T)):
        a_prev = case.h0 if t == 0 else traj.h[t - 1]
        a, x, yhat, y = traj.h[t], case.inputs[t], traj.yhat[t], on.targets[t]
        # 3.1.2: ∂J/∂z_y = ∂J/∂ŷ (diag(ŷ) − ŷŷᵀ) with ∂J/∂ŷ = −y/ŷ for J = −Σ y log ŷ.
        dJ_dzy = (-y / yhat) @ (np.diag(yhat) - np.outer(yhat, yhat))
        assert np.allclose(dJ_dzy, yhat - y, rtol=0, atol=1e-14)
        # 3.1.3 and 3.1.4: ∂J/∂a = ∂J/∂z_y W_yaᵀ + (from t+1); ∂J/∂z_a = ∂J/∂a ∘ (1 − tanh²)ᵀ
        dJ_da = dJ_dzy @ W_ya.T + dJ_da_next
        dJ_dza = dJ_da * (1 - a**2)
        # 3.2: ∇^{(t)}_{W_aa} = a^{(t-1)} ∂J/∂z_a, ∇^{(t)}_{W_ax} = x ∂J/∂z_a, ...
        expected = {
            "W_hh": np.outer(a_prev, dJ_dza).T,  # W_aa = W_hhᵀ
            "W_xh": np.outer(x, dJ_dza).T,
            "W_hy": np.outer(a, dJ_dzy).T,
            "b_h": dJ_dza,
            "b_y": dJ_dzy,
        }
        for name, value in expected.items():
            assert discrepancy(ref.per_step[name][t], value).error < 1e-13, (name, t)
        dJ_da_next = dJ_dza @ W_aa.T  # 3.1.5: ∂J/∂a^{(t-1)} = ∂J/∂z_a W_aaᵀ


def test_seed003_literal_dJ_dyhat_has_the_wrong_sign() -> None:
    """Seed 003 writes ∂J/∂ŷ = y/ŷ; for its own J = −Σ y log ŷ the sign is wrong."""
    spec = RNNSpec(n_y=4)
    case = make_case(spec, seq_len=1, seed=1)
    traj, on = _trajectory(case)
    yhat, y = traj.yhat[0], on.targets[0]
    literal = (y / yhat) @ (np.diag(yhat) - np.outer(yhat, yhat))
    truth = reference(case).per_step["b_y"][0]
    assert discrepancy(literal, -truth).error < 1e-14
    assert discrepancy(literal, truth).error > 0.5
