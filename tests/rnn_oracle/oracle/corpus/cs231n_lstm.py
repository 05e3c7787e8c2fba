"""CS231n's LSTM (assignment 3, ``rnn_layers.py``) as students write it: row vectors, a
batch of rows, ``x`` is ``(N, T, D)``, ``Wx`` is ``(D, 4H)``, ``Wh`` is ``(H, 4H)``, one
bias ``b`` of ``(4H,)``, the gates stacked as ``(i, f, o, g)``; ``lstm_forward`` starts
from the given ``h0`` and ``c0 = 0`` and ``lstm_backward`` returns no ``dc0``.

:func:`canonical` is the glue to the oracle's network protocol (canonical names, torch's
gate order ``(i, f, g, o)``, time-major sequences, two biases): nine lines.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def lstm_step_forward(x: Any, prev_h: Any, prev_c: Any, Wx: Any, Wh: Any, b: Any) -> Any:
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h: Any, dnext_c: Any, cache: Any) -> Any:
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    da = np.hstack((dc * g * i * (1 - i), dc * prev_c * f * (1 - f),
                    dnext_h * tc * o * (1 - o), dc * i * (1 - g**2)))
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x: Any, h0: Any, Wx: Any, Wh: Any, b: Any) -> Any:
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=x.dtype)
    prev_h, prev_c, caches = h0, np.zeros_like(h0), []
    for t in range(T):
        prev_h, prev_c, cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def lstm_backward(dh: Any, caches: Any) -> Any:
    N, T, H = dh.shape
    x0, _, _, Wx, Wh = caches[0][:5]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, dtype=dh.dtype)
    dprev_h, dprev_c = np.zeros((N, H), dtype=dh.dtype), np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dprev_h, dprev_c, caches[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def canonical(params: dict[str, Any], x: Any, states: dict[str, Any], dout: Any) -> Any:
    """CS231n's layer in the oracle's network protocol (the glue a user writes)."""
    p = {k.split(".")[-1]: v for k, v in params.items()}
    H = p["W_hh"].shape[1]
    order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]  # (i, f, g, o) <-> (i, f, o, g)
    _, caches = lstm_forward(x.transpose(1, 0, 2), states["layer0.forward.h0"],
                             p["W_xh"][order].T, p["W_hh"][order].T, (p["b_xh"] + p["b_hh"])[order])
    dx, dh0, dWx, dWh, db = lstm_backward(dout.transpose(1, 0, 2), caches)
    g = {"W_xh": dWx.T[order], "W_hh": dWh.T[order], "b_xh": db[order], "b_hh": db[order],
         "h0": dh0}
    return {**{f"layer0.forward.{k}": v for k, v in g.items()}, "inputs": dx.transpose(1, 0, 2)}
