"""A torch module with ``nn.RNN``'s parameter names whose backward is written by hand in a
``torch.autograd.Function``: ``forward(x, h0) -> (out, h_n)``, time-major, row vectors.

``make(bug)`` returns a module instance, correct for ``bug=None``.
"""

from __future__ import annotations

from typing import Any

import torch

MUTANTS: dict[str, str] = {
    "negated_upstream": "negated",  # grad_out = -grad_out
    "weights_mean_over_time": "scaled",  # dW /= T
    "no_recurrence": "local_only",  # dh_t = grad_out[t]
    "clamp_weight_grads": "clipped",  # dW.clamp_(-1, 1)
    "sigmoid_derivative": "wrong_activation_derivative",  # h * (1 - h)
    "bias_hh_none": "zero",  # return None for bias_hh
    "dw_hh_from_h_t": "off_by_one_state",  # dW_hh += da.T @ h_t
}


def make(bug: str | None = None, n_x: int = 3, n_h: int = 5) -> torch.nn.Module:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    class RNNFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> Any:
            h = h0
            hs = []
            for t in range(x.shape[0]):
                h = torch.tanh(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
                hs.append(h)
            out = torch.stack(hs)
            ctx.save_for_backward(x, h0, w_ih, w_hh, out)
            return out

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            x, h0, w_ih, w_hh, out = ctx.saved_tensors
            if bug == "negated_upstream":
                grad_out = -grad_out
            T = x.shape[0]
            h_prev = torch.cat([h0[None], out[:-1]])
            dx = torch.zeros_like(x)
            dw_ih, dw_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
            db = torch.zeros(w_hh.shape[0], dtype=x.dtype)
            dh_next = torch.zeros_like(h0)
            for t in reversed(range(T)):
                dh = grad_out[t] if bug == "no_recurrence" else grad_out[t] + dh_next
                if bug == "sigmoid_derivative":
                    da = dh * out[t] * (1 - out[t])
                else:
                    da = dh * (1 - out[t] ** 2)
                dx[t] = da @ w_ih
                dw_ih += da.T @ x[t]
                dw_hh += da.T @ (out[t] if bug == "dw_hh_from_h_t" else h_prev[t])
                db += da.sum(0)
                dh_next = da @ w_hh
            if bug == "weights_mean_over_time":
                dw_ih /= T
                dw_hh /= T
            if bug == "clamp_weight_grads":
                dw_ih.clamp_(-1, 1)
                dw_hh.clamp_(-1, 1)
            db_hh = None if bug == "bias_hh_none" else db.clone()
            return dx, dh_next, dw_ih, dw_hh, db, db_hh

    class HandRNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # what nn.RNN would say of itself: the oracle assumes neither
            self.nonlinearity, self.batch_first = "tanh", False
            self.weight_ih_l0 = torch.nn.Parameter(torch.randn(n_h, n_x))
            self.weight_hh_l0 = torch.nn.Parameter(torch.randn(n_h, n_h))
            self.bias_ih_l0 = torch.nn.Parameter(torch.zeros(n_h))
            self.bias_hh_l0 = torch.nn.Parameter(torch.zeros(n_h))

        def forward(self, x: Any, h0: Any) -> tuple[Any, Any]:
            out = RNNFunction.apply(
                x, h0[0], self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0
            )
            return out, out[-1:]

    return HandRNN()
