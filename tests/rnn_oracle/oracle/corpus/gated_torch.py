"""One-layer LSTM and GRU whose backward is written by hand in a
``torch.autograd.Function``: ``forward(x, h0[, c0], w_ih, w_hh, b_ih, b_hh) -> out``,
time-major, row vectors, torch's gate order and equations (``nn.LSTM``/``nn.GRU``).

``make(cell, bug)`` returns a layer-mode function in torch's names
(``check_network_gradients(fn, spec=..., names="torch")``) that runs the Function and
lets torch's engine call its backward; correct for ``bug=None``. :data:`MUTANTS` maps
each cell's slips to the cause and gate the oracle should name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

MUTANTS: dict[str, dict[str, tuple[str, str | None]]] = {
    "lstm": {
        "df_tanh_prime": ("wrong_gate_derivative", "f"),  # (1 - f**2)
        "dg_tanh_of_output": ("wrong_gate_derivative", "g"),  # 1 - tanh(g)**2
        "dc_next_dropped": ("cell_state_path", None),  # dc = dh * o * (1 - tc**2)
        "no_forget": ("forget_gate", "f"),  # dc_prev = dc
        "tanh_c_sigmoid_prime": ("output_gate", "o"),  # tc * (1 - tc) for tanh'(c)
        "bias_first_step_only": ("gate_bias_one_step", None),  # db set at t == T - 1 only
        "stack_ifog": ("gates_permuted", "g, o"),  # torch.cat([di, df, do, dg])
    },
    "gru": {
        "dn_preactivation": ("wrong_gate_derivative", "n"),  # 1 - a_n**2
        "dz_sigmoid_of_output": ("wrong_gate_derivative", "z"),  # σ(z) (1 - σ(z))
        "dn_uses_z": ("update_gate", "z"),  # dn = dh * z
        "b_hn_outside_r": ("reset_gate", "r"),  # dr = da_n * (h @ W_hn.T); db_hn = da_n
        "db_ih_r_assigned": ("gate_bias_one_step", "r"),  # db_ih[:H] = da_r.sum(0)
        "saved_unpacked_zr": ("gate_values_swapped", "r, z"),  # h, z, r, n, ... = saved[t]
    },
}


def _lstm_function(bug: str | None) -> Any:
    class LSTMFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any,
                    b_hh: Any) -> Any:
            h, c = h0, c0
            hs, saved = [], []
            for t in range(x.shape[0]):
                gates = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
                a_i, a_f, a_g, a_o = gates.chunk(4, 1)
                i, f, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o)
                g = torch.tanh(a_g)
                c_prev, c = c, f * c + i * g
                saved.append(torch.stack([h, c_prev, i, f, g, o, c]))
                h = o * torch.tanh(c)
                hs.append(h)
            ctx.save_for_backward(x, w_ih, w_hh, torch.stack(saved))
            return torch.stack(hs)

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            x, w_ih, w_hh, saved = ctx.saved_tensors
            T = x.shape[0]
            dx = torch.zeros_like(x)
            dw_ih, dw_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
            db = torch.zeros(w_ih.shape[0], dtype=x.dtype)
            dh_next = torch.zeros_like(saved[0, 0])
            dc_next = torch.zeros_like(dh_next)
            for t in reversed(range(T)):
                h_prev, c_prev, i, f, g, o, c = saved[t]
                dh = grad_out[t] + dh_next
                tc = torch.tanh(c)
                dtc = tc * (1 - tc) if bug == "tanh_c_sigmoid_prime" else 1 - tc**2
                dc = dh * o * dtc
                if bug != "dc_next_dropped":
                    dc = dc + dc_next
                do = dh * tc
                di, df, dg = dc * g, dc * c_prev, dc * i
                da_i = di * i * (1 - i)
                da_f = df * (1 - f**2) if bug == "df_tanh_prime" else df * f * (1 - f)
                if bug == "dg_tanh_of_output":
                    da_g = dg * (1 - torch.tanh(g) ** 2)
                else:
                    da_g = dg * (1 - g**2)
                da_o = do * o * (1 - o)
                if bug == "stack_ifog":
                    da = torch.cat([da_i, da_f, da_o, da_g], dim=1)
                else:
                    da = torch.cat([da_i, da_f, da_g, da_o], dim=1)
                dx[t] = da @ w_ih
                dw_ih += da.T @ x[t]
                dw_hh += da.T @ h_prev
                if bug != "bias_first_step_only":
                    db += da.sum(0)
                elif t == T - 1:
                    db = da.sum(0)
                dh_next = da @ w_hh
                dc_next = dc if bug == "no_forget" else dc * f
            return dx, dh_next, dc_next, dw_ih, dw_hh, db, db.clone()

    return LSTMFunction


def _gru_function(bug: str | None) -> Any:
    class GRUFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any,
                    b_hh: Any) -> Any:
            h = h0
            hs, saved = [], []
            for t in range(x.shape[0]):
                gi_r, gi_z, gi_n = (x[t] @ w_ih.T + b_ih).chunk(3, 1)
                gh_r, gh_z, gh_n = (h @ w_hh.T + b_hh).chunk(3, 1)
                r, z = torch.sigmoid(gi_r + gh_r), torch.sigmoid(gi_z + gh_z)
                n = torch.tanh(gi_n + r * gh_n)
                saved.append(torch.stack([h, r, z, n, gh_n, gi_n + r * gh_n]))
                h = (1 - z) * n + z * h
                hs.append(h)
            ctx.save_for_backward(x, w_ih, w_hh, b_hh, torch.stack(saved))
            return torch.stack(hs)

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            x, w_ih, w_hh, b_hh, saved = ctx.saved_tensors
            H = w_hh.shape[1]
            dx = torch.zeros_like(x)
            dw_ih, dw_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
            db_ih, db_hh = torch.zeros_like(b_hh), torch.zeros_like(b_hh)
            dh_next = torch.zeros_like(saved[0, 0])
            for t in reversed(range(x.shape[0])):
                if bug == "saved_unpacked_zr":
                    h, z, r, n, gh_n, a_n = saved[t]
                else:
                    h, r, z, n, gh_n, a_n = saved[t]
                dh = grad_out[t] + dh_next
                dn = dh * z if bug == "dn_uses_z" else dh * (1 - z)
                dz = dh * (h - n)
                da_n = dn * (1 - a_n**2) if bug == "dn_preactivation" else dn * (1 - n**2)
                if bug == "dz_sigmoid_of_output":
                    da_z = dz * torch.sigmoid(z) * (1 - torch.sigmoid(z))
                else:
                    da_z = dz * z * (1 - z)
                if bug == "b_hn_outside_r":
                    da_r = da_n * (gh_n - b_hh[2 * H :]) * r * (1 - r)
                else:
                    da_r = da_n * gh_n * r * (1 - r)
                d_ih = torch.cat([da_r, da_z, da_n], dim=1)
                d_hh = torch.cat([da_r, da_z, da_n * r], dim=1)
                dx[t] = d_ih @ w_ih
                dw_ih += d_ih.T @ x[t]
                dw_hh += d_hh.T @ h
                db_ih += d_ih.sum(0)
                if bug == "db_ih_r_assigned":
                    db_ih[:H] = da_r.sum(0)
                if bug == "b_hn_outside_r":
                    db_hh += torch.cat([da_r, da_z, da_n], dim=1).sum(0)
                else:
                    db_hh += d_hh.sum(0)
                dh_next = dh * z + d_hh @ w_hh
            return dx, dh_next, dw_ih, dw_hh, db_ih, db_hh

    return GRUFunction


def make(cell: str, bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS[cell]:
        raise ValueError(bug)
    function = _lstm_function(bug) if cell == "lstm" else _gru_function(bug)
    states = ("h0", "c0") if cell == "lstm" else ("h0",)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")

    def layer(params: dict[str, Any], inputs: Any, initial_states: dict[str, Any],
              upstream: Any) -> dict[str, Any]:
        x = torch.tensor(inputs, requires_grad=True)
        s = {k: torch.tensor(initial_states[k][0], requires_grad=True) for k in states}
        w = {k: torch.tensor(params[k], requires_grad=True) for k in names}
        out = function.apply(x, *s.values(), *w.values())
        out.backward(torch.tensor(upstream))
        grads = {k: v.grad.numpy() for k, v in w.items()}
        grads["inputs"] = x.grad.numpy()
        grads.update({k: v.grad.numpy()[None] for k, v in s.items()})
        return {k: np.asarray(v) for k, v in grads.items()}

    return layer
