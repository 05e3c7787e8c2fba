"""Karpathy's batched LSTM gist (``LSTM.forward/backward``): one matrix ``WLSTM`` of
shape ``(1 + D + H, 4H)`` whose first row is the bias, then the input rows, then the
hidden rows; ``X`` is ``(n, b, D)`` time-major; the gates in the order (i, f, o, g)
(``IFOG``); the backward fills ``dIFOGf`` and ``dIFOG`` slice by slice and carries ``dC``
back in place.

``make(bug)`` returns a layer-mode function in canonical names around it, correct for
``bug=None``; :data:`MUTANTS` maps each slip to the cause and gate the oracle should name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

P = "layer0.forward."

MUTANTS: dict[str, tuple[str, str | None]] = {
    "dC_prev_without_forget": ("forget_gate", "f"),  # dC[t-1] += dC[t]
    "sigmoid_derivative_for_all": ("wrong_gate_derivative", "g"),  # y = IFOGf[t] (all 4d)
    "tanhCt_derivative_from_C": ("output_gate", "o"),  # (1 - C[t]**2)
    "dC_assigned": ("cell_state_path", None),  # dC[t] = ... ('=' drops the carried dC)
    "dF_uses_C_t": ("off_by_one_state", "f"),  # dIFOGf[t,:,d:2*d] = C[t] * dC[t]
    "dO_uses_C": ("output_gate", "o"),  # dIFOGf[t,:,2*d:3*d] = C[t] * dHout[t]
}

#: IFOG as torch's block indices.
ORDER = (0, 1, 3, 2)


def forward(X: Any, WLSTM: Any, c0: Any, h0: Any) -> tuple[Any, dict[str, Any]]:
    n, b, input_size = X.shape
    d = WLSTM.shape[1] // 4
    xphpb = WLSTM.shape[0]
    Hin = np.zeros((n, b, xphpb))
    Hout = np.zeros((n, b, d))
    IFOG = np.zeros((n, b, d * 4))
    IFOGf = np.zeros((n, b, d * 4))
    C = np.zeros((n, b, d))
    Ct = np.zeros((n, b, d))
    for t in range(n):
        prevh = Hout[t - 1] if t > 0 else h0
        Hin[t, :, 0] = 1
        Hin[t, :, 1 : input_size + 1] = X[t]
        Hin[t, :, input_size + 1 :] = prevh
        IFOG[t] = Hin[t].dot(WLSTM)
        IFOGf[t, :, : 3 * d] = 1.0 / (1.0 + np.exp(-IFOG[t, :, : 3 * d]))
        IFOGf[t, :, 3 * d :] = np.tanh(IFOG[t, :, 3 * d :])
        prevc = C[t - 1] if t > 0 else c0
        C[t] = IFOGf[t, :, :d] * IFOGf[t, :, 3 * d :] + IFOGf[t, :, d : 2 * d] * prevc
        Ct[t] = np.tanh(C[t])
        Hout[t] = IFOGf[t, :, 2 * d : 3 * d] * Ct[t]
    cache = {"WLSTM": WLSTM, "Hout": Hout, "IFOGf": IFOGf, "IFOG": IFOG, "C": C, "Ct": Ct,
             "Hin": Hin, "c0": c0, "h0": h0}
    return Hout, cache


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def backward(dHout_in: Any, cache: dict[str, Any]) -> tuple[Any, ...]:
        WLSTM, Hout, IFOGf, IFOG = cache["WLSTM"], cache["Hout"], cache["IFOGf"], cache["IFOG"]
        C, Ct, Hin, c0 = cache["C"], cache["Ct"], cache["Hin"], cache["c0"]
        n, b, d = Hout.shape
        input_size = WLSTM.shape[0] - d - 1
        dIFOG = np.zeros(IFOG.shape)
        dIFOGf = np.zeros(IFOGf.shape)
        dWLSTM = np.zeros(WLSTM.shape)
        dHin = np.zeros(Hin.shape)
        dC = np.zeros(C.shape)
        dX = np.zeros((n, b, input_size))
        dh0 = np.zeros((b, d))
        dc0 = np.zeros((b, d))
        dHout = dHout_in.copy()
        for t in reversed(range(n)):
            tanhCt = Ct[t]
            if bug == "dO_uses_C":
                dIFOGf[t, :, 2 * d : 3 * d] = C[t] * dHout[t]
            else:
                dIFOGf[t, :, 2 * d : 3 * d] = tanhCt * dHout[t]
            dtanh = (1 - C[t] ** 2) if bug == "tanhCt_derivative_from_C" else (1 - tanhCt**2)
            if bug == "dC_assigned":
                dC[t] = dtanh * (IFOGf[t, :, 2 * d : 3 * d] * dHout[t])
            else:
                dC[t] += dtanh * (IFOGf[t, :, 2 * d : 3 * d] * dHout[t])
            prevc = C[t - 1] if t > 0 else c0
            if bug == "dF_uses_C_t":
                dIFOGf[t, :, d : 2 * d] = C[t] * dC[t]
            else:
                dIFOGf[t, :, d : 2 * d] = prevc * dC[t]
            carried = dC[t] if bug == "dC_prev_without_forget" else IFOGf[t, :, d : 2 * d] * dC[t]
            if t > 0:
                dC[t - 1] += carried
            else:
                dc0 = carried
            dIFOGf[t, :, :d] = IFOGf[t, :, 3 * d :] * dC[t]
            dIFOGf[t, :, 3 * d :] = IFOGf[t, :, :d] * dC[t]
            if bug == "sigmoid_derivative_for_all":
                y = IFOGf[t]
                dIFOG[t] = (y * (1.0 - y)) * dIFOGf[t]
            else:
                dIFOG[t, :, 3 * d :] = (1 - IFOGf[t, :, 3 * d :] ** 2) * dIFOGf[t, :, 3 * d :]
                y = IFOGf[t, :, : 3 * d]
                dIFOG[t, :, : 3 * d] = (y * (1.0 - y)) * dIFOGf[t, :, : 3 * d]
            dWLSTM += np.dot(Hin[t].transpose(), dIFOG[t])
            dHin[t] = dIFOG[t].dot(WLSTM.transpose())
            dX[t] = dHin[t, :, 1 : input_size + 1]
            if t > 0:
                dHout[t - 1, :] += dHin[t, :, input_size + 1 :]
            else:
                dh0 += dHin[t, :, input_size + 1 :]
        return dX, dWLSTM, dc0, dh0

    def lstm_layer(params: dict[str, Any], inputs: Any, states: dict[str, Any],
                   upstream: Any) -> dict[str, Any]:
        WLSTM = np.concatenate([
            _reordered(params[P + "b_xh"] + params[P + "b_hh"])[None],
            _reordered(params[P + "W_xh"]).T,
            _reordered(params[P + "W_hh"]).T,
        ])
        _, cache = forward(inputs, WLSTM, states[P + "c0"], states[P + "h0"])
        dX, dWLSTM, dc0, dh0 = backward(upstream, cache)
        D = inputs.shape[-1]
        db = _reordered(dWLSTM[0])
        return {P + "W_xh": _reordered(dWLSTM[1 : D + 1].T),
                P + "W_hh": _reordered(dWLSTM[D + 1 :].T),
                P + "b_xh": db, P + "b_hh": db, P + "h0": dh0, P + "c0": dc0, "inputs": dX}

    return lstm_layer


def _reordered(w: Any) -> Any:
    """Gate blocks along the first axis between torch's order and IFOG (its own inverse)."""
    H = w.shape[0] // 4
    return np.concatenate([w[k * H : (k + 1) * H] for k in ORDER])
