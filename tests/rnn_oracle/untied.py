"""An independent NumPy implementation of the canonical network with *untied* weights.

Each step ``t`` gets its own copy of ``W_hh``, ``W_xh``, ``b_h``, ``W_hy``, ``b_y`` and an
additive perturbation ``δ_t`` of its hidden state, and the loss can be restricted to one
step. Complex-step derivatives of this function define, independently of the hand
BPTT, seed 003's per-step contributions (``∂J/∂θ^{(t)}``), the hidden-state gradients
(``∂J/∂δ_t`` = ``∇_{h(t)} J``) and seed 000's local partials (step ``t``'s loss w.r.t.
step ``t``'s copy). Written separately from ``rnn_oracle.model`` on purpose.
"""

from __future__ import annotations

import numpy as np

from rnn_oracle import Case

STEP = 1e-30


def _phi(cell: str, a: np.ndarray) -> np.ndarray:
    if cell == "tanh":
        return np.tanh(a)
    if cell == "sigmoid":
        return 1 / (1 + np.exp(-a))
    if cell == "relu":
        return np.where(a.real > 0, a, 0)
    return a


def untied_loss(
    case: Case,
    steps: dict[str, list[np.ndarray]],
    delta: list[np.ndarray],
    only_step: int | None = None,
) -> complex:
    spec = case.spec
    T, B = case.seq_len, case.batch
    x = case.inputs
    if spec.inputs == "indices":
        x = np.eye(spec.n_x)[x]
    h = case.h0.astype(complex)
    total: complex = 0
    weight = spec.sign / (T if spec.time_reduction == "mean" else 1)
    if B is not None and spec.batch_reduction == "mean":
        weight /= B
    for t in range(T):
        a = h @ steps["W_hh"][t].T + x[t] @ steps["W_xh"][t].T + steps["b_h"][t]
        h = _phi(spec.cell, a) + delta[t]
        if only_step is not None and t != only_step:
            continue
        if spec.head == "none":
            loss = np.sum(case.upstream[t] * h)
        else:
            o = h @ steps["W_hy"][t].T + steps["b_y"][t]
            if spec.head == "softmax_ce":
                m = np.max(o.real, axis=-1, keepdims=True)
                lse = m + np.log(np.sum(np.exp(o - m), axis=-1, keepdims=True))
                y = np.eye(spec.n_y)[case.targets[t]]
                loss = np.sum(y * (lse - o))
            else:
                loss = 0.5 * np.sum((o - case.targets[t]) ** 2)
        total = total + weight * loss
    return total


def tied(case: Case) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray]]:
    steps = {n: [np.array(v, dtype=complex) for _ in range(case.seq_len)]
             for n, v in case.params.items()}
    delta = [np.zeros(case.h0.shape, dtype=complex) for _ in range(case.seq_len)]
    return steps, delta


def per_step_by_complex_step(case: Case, name: str, t: int, only_step: int | None = None):
    """``∂J/∂θ^{(t)}`` (or of step ``only_step``'s loss) for the parameter ``name``."""
    steps, delta = tied(case)
    base = steps[name][t]
    grad = np.empty(base.shape)
    for index in np.ndindex(base.shape):
        perturbed = base.copy()
        perturbed[index] += 1j * STEP
        steps[name][t] = perturbed
        grad[index] = untied_loss(case, steps, delta, only_step).imag / STEP
    steps[name][t] = base
    return grad


def hidden_grad_by_complex_step(case: Case, t: int) -> np.ndarray:
    """``∇_{h(t)} J`` as ``∂J/∂δ_t``."""
    steps, delta = tied(case)
    grad = np.empty(case.h0.shape)
    for index in np.ndindex(case.h0.shape):
        d = [x.copy() for x in delta]
        d[t][index] += 1j * STEP
        grad[index] = untied_loss(case, steps, d).imag / STEP
    return grad
