"""A correct user implementation of every spec, in convention ``dlbook`` (column vectors:
``h = φ(b + W h + U x)``, ``o = c + V h``), written the way a student would: states as
columns ``(n, B)``, one loop forward, one loop back. It shares no code with rnn_oracle,
so the zero-false-alarm property test compares two independent computations.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _phi(cell: str, a: Any) -> Any:
    if cell == "tanh":
        return np.tanh(a)
    if cell == "sigmoid":
        return 1 / (1 + np.exp(-a))
    if cell == "relu":
        return np.maximum(a, 0)
    return a


def _dphi(cell: str, a: Any, h: Any) -> Any:
    if cell == "tanh":
        return 1 - h**2
    if cell == "sigmoid":
        return h * (1 - h)
    if cell == "relu":
        return (a > 0).astype(a.dtype)
    return np.ones_like(a)


def _columns(seq: Any, n: int, batched: bool) -> list[Any]:
    """Per step an ``(n, B)`` block from ``(T, [B,] n)``."""
    seq = np.asarray(seq)
    return [seq[t].T if batched else seq[t].reshape(n, 1) for t in range(seq.shape[0])]


def make(spec: Any, mode: str = "model") -> Any:
    """``mode="model"``: ``(params, x, y, h0) -> (loss, grads)``; ``"layer"``:
    ``(params, x, h0, upstream) -> grads`` with ``inputs`` and ``h0``."""

    def run(params: dict[str, Any], x: Any, h0: Any, y: Any, upstream: Any) -> Any:
        W, U, b = params["W"], params["U"], params["b"]
        dtype = W.dtype
        batched = np.ndim(h0) == 2
        B = h0.shape[0] if batched else 1
        T = len(x)
        if spec.inputs == "one_hot" or spec.inputs == "dense":
            xs = _columns(x, spec.n_x, batched)
        else:  # class indices
            eye = np.eye(spec.n_x, dtype=dtype)
            xs = [eye[np.atleast_1d(x[t])].T for t in range(T)]
        w = 1.0 if spec.loss_sign == "standard" else -1.0
        if spec.time_reduction == "mean":
            w /= T
        if batched and spec.batch_reduction == "mean":
            w /= B
        hs = {-1: (h0.T if batched else h0.reshape(-1, 1)).astype(dtype)}
        As, dos = {}, {}
        loss = 0.0
        for t in range(T):
            As[t] = W @ hs[t - 1] + U @ xs[t] + b[:, None]
            hs[t] = _phi(spec.cell, As[t])
            if mode == "layer":
                continue
            o = params["V"] @ hs[t] + params["c"][:, None]
            if spec.head == "softmax_ce":
                m = o.max(axis=0, keepdims=True)
                log_p = o - m - np.log(np.exp(o - m).sum(axis=0, keepdims=True))
                onehot = np.zeros_like(o)
                onehot[np.atleast_1d(y[t]), np.arange(B)] = 1
                loss += -w * float((onehot * log_p).sum())
                dos[t] = w * (np.exp(log_p) - onehot)
            else:
                target = _columns(y, spec.n_y, batched)[t]
                loss += 0.5 * w * float(((o - target) ** 2).sum())
                dos[t] = w * (o - target)
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        dxs = [None] * T
        carry = np.zeros_like(hs[-1])
        ups = _columns(upstream, spec.n_h, batched) if mode == "layer" else None
        for t in reversed(range(T)):
            if mode == "layer":
                assert ups is not None
                dh = ups[t] + carry
            else:
                grads["V"] += dos[t] @ hs[t].T
                grads["c"] += dos[t].sum(axis=1)
                dh = params["V"].T @ dos[t] + carry
            da = dh * _dphi(spec.cell, As[t], hs[t])
            grads["W"] += da @ hs[t - 1].T
            grads["U"] += da @ xs[t].T
            grads["b"] += da.sum(axis=1)
            dxs[t] = U.T @ da
            carry = W.T @ da
        if mode == "model":
            return loss, grads
        dx = np.stack([d.T if batched else d[:, 0] for d in dxs])
        grads["inputs"] = dx
        grads["h0"] = carry.T if batched else carry[:, 0]
        return grads

    if mode == "model":
        return lambda params, x, y, h0: run(params, x, h0, y, None)
    return lambda params, x, h0, upstream: run(params, x, h0, None, upstream)
