"""CS231n's ``rnn_layers`` (``rnn_step_forward/backward``, ``rnn_forward/backward``), layer
mode, convention ``cs231n``: row vectors, a batch of rows, ``x`` is ``(N, T, D)``,
``Wx`` is ``(D, H)``, ``Wh`` is ``(H, H)``; ``rnn_backward(dh)`` takes the upstream
gradient of every hidden state, ``(N, T, H)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MUTANTS: dict[str, str] = {
    "dtanh_uses_preactivation": "wrong_activation_derivative",  # 1 - a**2
    "dtanh_sigmoid": "wrong_activation_derivative",  # next_h * (1 - next_h)
    "dwh_transposed": "transposed",  # dWh = dtanh.T @ prev_h
    "dprev_h_uses_wh": "transposed",  # dprev_h = dtanh @ Wh (Wh.T belongs)
    "db_mean": "scaled",  # db = dtanh.sum(axis=0) / N
    "no_dprev_h": "local_only",  # dh_t = dh[:, t] (recurrent gradient dropped)
    "dwx_overwritten": "missing_accumulation",  # dWx = dWx_t instead of +=
    "dwh_uses_next_h": "off_by_one_state",  # dWh from next_h instead of prev_h
    "truncated_4": "truncated",  # each upstream gradient flows back 4 steps only
}


def rnn_step_forward(x: Any, prev_h: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, Any]:
    a = prev_h @ Wh + x @ Wx + b
    next_h = np.tanh(a)
    return next_h, (x, prev_h, Wx, Wh, a, next_h)


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def rnn_step_backward(dnext_h: Any, cache: Any) -> tuple[Any, ...]:
        x, prev_h, Wx, Wh, a, next_h = cache
        if bug == "dtanh_uses_preactivation":
            dtanh = dnext_h * (1 - a**2)
        elif bug == "dtanh_sigmoid":
            dtanh = dnext_h * next_h * (1 - next_h)
        else:
            dtanh = dnext_h * (1 - next_h**2)
        dx = dtanh @ Wx.T
        dprev_h = dtanh @ Wh if bug == "dprev_h_uses_wh" else dtanh @ Wh.T
        dWx = x.T @ dtanh
        if bug == "dwh_transposed":
            dWh = dtanh.T @ prev_h
        elif bug == "dwh_uses_next_h":
            dWh = next_h.T @ dtanh
        else:
            dWh = prev_h.T @ dtanh
        db = dtanh.sum(axis=0) / x.shape[0] if bug == "db_mean" else dtanh.sum(axis=0)
        return dx, dprev_h, dWx, dWh, db

    def rnn_backward(dh: Any, caches: list[Any]) -> tuple[Any, ...]:
        N, T, H = dh.shape
        D = caches[0][0].shape[1]
        dx = np.zeros((N, T, D), dtype=dh.dtype)
        dWx = np.zeros((D, H), dtype=dh.dtype)
        dWh = np.zeros((H, H), dtype=dh.dtype)
        db = np.zeros(H, dtype=dh.dtype)
        if bug == "truncated_4":
            dh0 = np.zeros((N, H), dtype=dh.dtype)
            for t in range(T):
                g = dh[:, t, :]
                for s in range(t, max(t - 4, -1), -1):
                    dx_s, g, dWx_s, dWh_s, db_s = rnn_step_backward(g, caches[s])
                    dx[:, s, :] += dx_s
                    dWx += dWx_s
                    dWh += dWh_s
                    db += db_s
                    if s == 0:
                        dh0 += g
            return dx, dh0, dWx, dWh, db
        dprev_h = np.zeros((N, H), dtype=dh.dtype)
        for t in reversed(range(T)):
            dh_t = dh[:, t, :] if bug == "no_dprev_h" else dh[:, t, :] + dprev_h
            dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh_t, caches[t])
            dx[:, t, :] = dx_t
            if bug == "dwx_overwritten":
                dWx = dWx_t
            else:
                dWx += dWx_t
            dWh += dWh_t
            db += db_t
        return dx, dprev_h, dWx, dWh, db

    def rnn_layer(params: dict[str, Any], x: Any, h0: Any, upstream: Any) -> dict[str, Any]:
        Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
        h, caches = h0, []
        for t in range(x.shape[1]):
            h, cache = rnn_step_forward(x[:, t, :], h, Wx, Wh, b)
            caches.append(cache)
        dx, dh0, dWx, dWh, db = rnn_backward(upstream, caches)
        return {"Wx": dWx, "Wh": dWh, "b": db, "inputs": dx, "h0": dh0}

    return rnn_layer
