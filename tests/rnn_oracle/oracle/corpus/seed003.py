"""Seed 003's transposed-column style, model mode, convention ``seed003``:
``a_t = tanh(W_aaᵀ a_{t−1} + W_axᵀ x_t + b_a)``, ``ŷ_t = softmax(W_yaᵀ a_t + b_y)``, column
vectors ``(n, 1)``; the gradient of each weight is the transpose of the numerator-layout
Jacobian, summed over time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MUTANTS: dict[str, str] = {
    "dwaa_jacobian_layout": "transposed",  # dW_aa += dz @ a_prev.T
    "dwya_prev_state": "off_by_one_state",  # dW_ya += a[t-1] @ dy.T
    "derivative_of_preactivation": "wrong_activation_derivative",  # 1 - z**2
    "dy_doubled": "scaled",  # dy = 2 * (y_hat - y)
    "db_a_never_written": "zero",  # db_a stays zeros
    "truncated_2": "truncated",  # each loss flows back 2 steps
    "dwax_overwritten": "missing_accumulation",  # dW_ax = x @ dz.T
}


def _softmax(z: Any) -> Any:
    e = np.exp(z - z.max())
    return e / e.sum()


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def loss_and_grads(params: dict[str, Any], x: Any, y: list[int], a0: Any) -> Any:
        W_aa, W_ax, b_a = params["W_aa"], params["W_ax"], params["b_a"]
        W_ya, b_y = params["W_ya"], params["b_y"]
        T = len(y)
        a, z, y_hat = {-1: a0}, {}, {}
        loss = 0.0
        for t in range(T):
            z[t] = W_aa.T @ a[t - 1] + W_ax.T @ x[t] + b_a
            a[t] = np.tanh(z[t])
            y_hat[t] = _softmax(W_ya.T @ a[t] + b_y)
            loss -= np.log(y_hat[t][y[t], 0])
        grads = {k: np.zeros_like(v) for k, v in params.items()}

        def dz_of(t: int, da: Any) -> Any:
            if bug == "derivative_of_preactivation":
                return da * (1 - z[t] ** 2)
            return da * (1 - a[t] ** 2)

        def dy_of(t: int) -> Any:
            dy = y_hat[t].copy()
            dy[y[t], 0] -= 1
            return 2 * dy if bug == "dy_doubled" else dy

        if bug == "truncated_2":
            for t in range(T):
                dy = dy_of(t)
                grads["W_ya"] += a[t] @ dy.T
                grads["b_y"] += dy
                da = W_ya @ dy
                for s in range(t, max(t - 2, -1), -1):
                    dz = dz_of(s, da)
                    grads["W_aa"] += a[s - 1] @ dz.T
                    grads["W_ax"] += x[s] @ dz.T
                    grads["b_a"] += dz
                    da = W_aa @ dz
            return loss, grads
        da_next = np.zeros_like(a0)
        for t in reversed(range(T)):
            dy = dy_of(t)
            grads["W_ya"] += (a[t - 1] if bug == "dwya_prev_state" else a[t]) @ dy.T
            grads["b_y"] += dy
            dz = dz_of(t, W_ya @ dy + da_next)
            if bug == "dwaa_jacobian_layout":
                grads["W_aa"] += dz @ a[t - 1].T
            else:
                grads["W_aa"] += a[t - 1] @ dz.T
            if bug == "dwax_overwritten":
                grads["W_ax"] = x[t] @ dz.T
            else:
                grads["W_ax"] += x[t] @ dz.T
            if bug != "db_a_never_written":
                grads["b_a"] += dz
            da_next = W_aa @ dz
        return loss, grads

    return loss_and_grads
