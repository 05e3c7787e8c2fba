"""A GRU layer as tutorials write it, one matrix per gate: row vectors, ``x_t`` is
``(N, D)``, ``W_xr, W_xz, W_xn`` are ``(D, H)``, ``W_hr, W_hz, W_hn`` are ``(H, H)``, a bias
per gate and side, and torch's equations::

    r = σ(x W_xr + b_xr + h W_hr + b_hr)
    z = σ(x W_xz + b_xz + h W_hz + b_hz)
    n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h

``make(bug)`` returns a layer-mode function in canonical names around it, correct for
``bug=None``; :data:`MUTANTS` maps each slip to the cause and gate the oracle should name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

P = "layer0.forward."
GATES = ("r", "z", "n")

MUTANTS: dict[str, tuple[str, str | None]] = {
    "dan_sigmoid": ("wrong_gate_derivative", "n"),  # dan = dn * n * (1 - n)
    "daz_preactivation": ("wrong_gate_derivative", "z"),  # daz = dz * az * (1 - az)
    "dar_tanh_prime": ("wrong_gate_derivative", "r"),  # dar = dr * (1 - r**2)
    "z_convention_swapped": ("update_gate", "z"),  # the backward of z*n + (1-z)*h
    "dz_sign": ("update_gate", "z"),  # dz = dh * (n - h)
    "reset_before_matmul": ("reset_gate", "r"),  # the backward of (r * h) W_hn
    "dhn_without_r": ("reset_gate", "r"),  # dhn = dan
    "db_hz_overwritten": ("gate_bias_one_step", "z"),  # db_hz = daz.sum(0)
    "dz_uses_new_h": ("off_by_one_state", "z"),  # dz = dh * (h_new - n)
    "no_dh_next": ("local_only", None),  # dh_t = upstream[t] only
}


def sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def gru_layer(params: dict[str, Any], inputs: Any, states: dict[str, Any],
                  upstream: Any) -> dict[str, Any]:
        p = _to_user(params)
        T = inputs.shape[0]
        h = states[P + "h0"]
        caches = []
        for t in range(T):
            x = inputs[t]
            ar = x @ p["W_xr"] + p["b_xr"] + h @ p["W_hr"] + p["b_hr"]
            az = x @ p["W_xz"] + p["b_xz"] + h @ p["W_hz"] + p["b_hz"]
            r, z = sigmoid(ar), sigmoid(az)
            hn = h @ p["W_hn"] + p["b_hn"]
            n = np.tanh(x @ p["W_xn"] + p["b_xn"] + r * hn)
            h_new = (1 - z) * n + z * h
            caches.append((x, h, r, z, n, hn, az, h_new))
            h = h_new
        g = {k: np.zeros_like(v) for k, v in p.items()}
        dx = np.zeros_like(inputs)
        dh_next = np.zeros_like(h)
        for t in reversed(range(T)):
            x, h, r, z, n, hn, az, h_new = caches[t]
            dh = upstream[t] if bug == "no_dh_next" else upstream[t] + dh_next
            if bug == "z_convention_swapped":
                dn, dh_prev, dz = dh * z, dh * (1 - z), dh * (n - h)
            else:
                dn, dh_prev = dh * (1 - z), dh * z
                if bug == "dz_sign":
                    dz = dh * (n - h)
                elif bug == "dz_uses_new_h":
                    dz = dh * (h_new - n)
                else:
                    dz = dh * (h - n)
            dan = dn * n * (1 - n) if bug == "dan_sigmoid" else dn * (1 - n**2)
            daz = dz * az * (1 - az) if bug == "daz_preactivation" else dz * z * (1 - z)
            if bug == "reset_before_matmul":
                drh = dan @ p["W_hn"].T
                dr = drh * h
                g["W_hn"] += (r * h).T @ dan
                g["b_hn"] += dan.sum(axis=0)
                dh_prev = dh_prev + drh * r
            else:
                dr = dan * hn
                dhn = dan if bug == "dhn_without_r" else dan * r
                g["W_hn"] += h.T @ dhn
                g["b_hn"] += dhn.sum(axis=0)
                dh_prev = dh_prev + dhn @ p["W_hn"].T
            dar = dr * (1 - r**2) if bug == "dar_tanh_prime" else dr * r * (1 - r)
            for gate, da in (("r", dar), ("z", daz)):
                g[f"W_h{gate}"] += h.T @ da
                dh_prev = dh_prev + da @ p[f"W_h{gate}"].T
            if bug == "db_hz_overwritten":
                g["b_hz"] = daz.sum(axis=0)
            else:
                g["b_hz"] += daz.sum(axis=0)
            g["b_hr"] += dar.sum(axis=0)
            for gate, da in (("r", dar), ("z", daz), ("n", dan)):
                g[f"W_x{gate}"] += x.T @ da
                g[f"b_x{gate}"] += da.sum(axis=0)
                dx[t] += da @ p[f"W_x{gate}"].T
            dh_next = dh_prev
        grads = _from_user(g)
        grads.update({P + "h0": dh_next, "inputs": dx})
        return grads

    return gru_layer


def _to_user(params: dict[str, Any]) -> dict[str, Any]:
    """torch's stacked (r, z, n) rows as one matrix (transposed) and one bias per gate."""
    H = params[P + "W_hh"].shape[1]
    out = {}
    for k, gate in enumerate(GATES):
        rows = slice(k * H, (k + 1) * H)
        out[f"W_x{gate}"] = params[P + "W_xh"][rows].T
        out[f"W_h{gate}"] = params[P + "W_hh"][rows].T
        out[f"b_x{gate}"] = params[P + "b_xh"][rows]
        out[f"b_h{gate}"] = params[P + "b_hh"][rows]
    return out


def _from_user(g: dict[str, Any]) -> dict[str, Any]:
    return {
        P + "W_xh": np.concatenate([g[f"W_x{k}"].T for k in GATES]),
        P + "W_hh": np.concatenate([g[f"W_h{k}"].T for k in GATES]),
        P + "b_xh": np.concatenate([g[f"b_x{k}"] for k in GATES]),
        P + "b_hh": np.concatenate([g[f"b_h{k}"] for k in GATES]),
    }
