"""An LSTM layer as CS231n's ``rnn_layers`` writes it (``lstm_step_forward/backward``,
``lstm_forward/backward``): row vectors, ``x`` is ``(N, T, D)``, ``Wx`` is ``(D, 4H)``,
``Wh`` is ``(H, 4H)``, one bias ``b`` (4H,), the gates sliced in the order (i, f, o, g).
Unlike the assignment it starts from a given ``c0`` and returns ``dc0`` too.

``make(bug)`` returns a layer-mode function in canonical names
(:data:`rnn_oracle.oracle.targets.NETWORK_PROTOCOL`) around it, correct for ``bug=None``;
the adapter converts torch's layout (gates i, f, g, o; ``W (4H, D)``; time-major) to the
assignment's and back, the way a user would. :data:`MUTANTS` maps each slip to the cause
and gate the oracle should name (``None``: the cause concerns no one gate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

P = "layer0.forward."

MUTANTS: dict[str, tuple[str, str | None]] = {
    "dag_sigmoid": ("wrong_gate_derivative", "g"),  # dag = dg * g * (1 - g)
    "daf_preactivation": ("wrong_gate_derivative", "f"),  # daf = df * af * (1 - af)
    "dai_tanh_prime": ("wrong_gate_derivative", "i"),  # dai = di * (1 - i**2)
    "dao_no_derivative": ("wrong_gate_derivative", "o"),  # dao = do
    "no_dnext_c": ("cell_state_path", None),  # dc = dnext_h * o * (1 - tanh(c)**2)
    "dprev_c_from_dnext_c": ("cell_state_path", None),  # dprev_c = dnext_c * f
    "dprev_c_no_forget": ("forget_gate", "f"),  # dprev_c = dc
    "do_uses_c": ("output_gate", "o"),  # do = dnext_h * next_c
    "dc_without_o": ("output_gate", "o"),  # dc = dnext_c + dnext_h * (1 - tanh(c)**2)
    "dtanh_c_from_c": ("output_gate", "o"),  # (1 - next_c**2) for tanh'(c)
    "db_overwritten": ("gate_bias_one_step", None),  # db = db_t in lstm_backward
    "da_stacked_ifgo": ("gates_permuted", "g, o"),  # np.hstack((dai, daf, dag, dao))
    "df_uses_next_c": ("off_by_one_state", "f"),  # df = dc * next_c
    "cache_unpacked_ifgo": ("gate_values_swapped", "g, o"),  # ..., i, f, g, o, ... = cache
}

#: The assignment's gate order as torch's block indices: (i, f, o, g) from (i, f, g, o).
ORDER = (0, 1, 3, 2)


def sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step_forward(
    x: Any, prev_h: Any, prev_c: Any, Wx: Any, Wh: Any, b: Any
) -> tuple[Any, Any, Any]:
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    ai, af, ao, ag = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    i, f, o, g = sigmoid(ai), sigmoid(af), sigmoid(ao), np.tanh(ag)
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, a, i, f, o, g, next_c)


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def lstm_step_backward(dnext_h: Any, dnext_c: Any, cache: Any) -> tuple[Any, ...]:
        if bug == "cache_unpacked_ifgo":
            x, prev_h, prev_c, Wx, Wh, a, i, f, g, o, next_c = cache
        else:
            x, prev_h, prev_c, Wx, Wh, a, i, f, o, g, next_c = cache
        H = prev_h.shape[1]
        tc = np.tanh(next_c)
        do = dnext_h * next_c if bug == "do_uses_c" else dnext_h * tc
        if bug == "no_dnext_c":
            dc = dnext_h * o * (1 - tc**2)
        elif bug == "dc_without_o":
            dc = dnext_c + dnext_h * (1 - tc**2)
        elif bug == "dtanh_c_from_c":
            dc = dnext_c + dnext_h * o * (1 - next_c**2)
        else:
            dc = dnext_c + dnext_h * o * (1 - tc**2)
        df = dc * next_c if bug == "df_uses_next_c" else dc * prev_c
        di = dc * g
        dg = dc * i
        if bug == "dprev_c_no_forget":
            dprev_c = dc
        elif bug == "dprev_c_from_dnext_c":
            dprev_c = dnext_c * f
        else:
            dprev_c = dc * f
        dai = di * (1 - i**2) if bug == "dai_tanh_prime" else di * i * (1 - i)
        if bug == "daf_preactivation":
            af = a[:, H : 2 * H]
            daf = df * af * (1 - af)
        else:
            daf = df * f * (1 - f)
        dao = do if bug == "dao_no_derivative" else do * o * (1 - o)
        dag = dg * g * (1 - g) if bug == "dag_sigmoid" else dg * (1 - g**2)
        if bug == "da_stacked_ifgo":
            da = np.hstack((dai, daf, dag, dao))
        else:
            da = np.hstack((dai, daf, dao, dag))
        dx = da @ Wx.T
        dprev_h = da @ Wh.T
        dWx = x.T @ da
        dWh = prev_h.T @ da
        db = da.sum(axis=0)
        return dx, dprev_h, dprev_c, dWx, dWh, db

    def lstm_backward(dh: Any, caches: list[Any]) -> tuple[Any, ...]:
        N, T, H = dh.shape
        D = caches[0][0].shape[1]
        dx = np.zeros((N, T, D), dtype=dh.dtype)
        dWx = np.zeros((D, 4 * H), dtype=dh.dtype)
        dWh = np.zeros((H, 4 * H), dtype=dh.dtype)
        db = np.zeros(4 * H, dtype=dh.dtype)
        dprev_h = np.zeros((N, H), dtype=dh.dtype)
        dprev_c = np.zeros((N, H), dtype=dh.dtype)
        for t in reversed(range(T)):
            dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
                dh[:, t, :] + dprev_h, dprev_c, caches[t])
            dx[:, t, :] = dx_t
            dWx += dWx_t
            dWh += dWh_t
            if bug == "db_overwritten":
                db = db_t
            else:
                db += db_t
        return dx, dprev_h, dprev_c, dWx, dWh, db

    def lstm_layer(params: dict[str, Any], inputs: Any, states: dict[str, Any],
                   upstream: Any) -> dict[str, Any]:
        Wx = _to_user(params[P + "W_xh"]).T
        Wh = _to_user(params[P + "W_hh"]).T
        b = _to_user(params[P + "b_xh"] + params[P + "b_hh"])
        x = inputs.transpose(1, 0, 2)
        h, c = states[P + "h0"], states[P + "c0"]
        caches = []
        for t in range(x.shape[1]):
            h, c, cache = lstm_step_forward(x[:, t, :], h, c, Wx, Wh, b)
            caches.append(cache)
        dx, dh0, dc0, dWx, dWh, db = lstm_backward(upstream.transpose(1, 0, 2), caches)
        return {P + "W_xh": _to_user(dWx.T), P + "W_hh": _to_user(dWh.T),
                P + "b_xh": _to_user(db), P + "b_hh": _to_user(db),
                P + "h0": dh0, P + "c0": dc0, "inputs": dx.transpose(1, 0, 2)}

    return lstm_layer


def _to_user(w: Any) -> Any:
    """Gate blocks along the first axis reordered between torch's and the assignment's
    order (the swap of g and o is its own inverse)."""
    H = w.shape[0] // 4
    return np.concatenate([w[k * H : (k + 1) * H] for k in ORDER])
