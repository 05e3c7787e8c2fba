"""min-char-rnn's ``lossFun`` (Karpathy), model mode, convention ``karpathy``: column
vectors, one-hot inputs built from index lists, biases and ``h`` as ``(n, 1)``.

``make(bug)`` returns the correct function (``bug=None``) or a mutant with one realistic
slip; :data:`MUTANTS` maps each slip to the cause the oracle should name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MUTANTS: dict[str, str] = {
    "derivative_1_minus_h": "wrong_activation_derivative",  # (1 - hs[t]) * dh
    "whh_uses_h_t": "off_by_one_state",  # np.dot(dhraw, hs[t].T)
    "no_dhnext": "local_only",  # dh = np.dot(Why.T, dy)
    "clip_1": "clipped",  # np.clip(dparam, -1, 1, out=dparam) before returning
    "clip_5": "clipped",  # min-char-rnn verbatim: np.clip(dparam, -5, 5, out=dparam)
    "why_overwritten": "missing_accumulation",  # dWhy = np.dot(dy, hs[t].T)
    "return_dwhh_T": "transposed",  # return dWhh.T
    "dy_over_T": "scaled",  # dy /= len(inputs), loss summed
    "dy_sign": "negated",  # dy = onehot - ps
    "truncated_3": "truncated",  # backprop each step's loss 3 steps only
    "swap_wxh_whh": "swapped",  # returns dWhh under Wxh and dWxh under Whh
}


def make(bug: str | None = None) -> Any:
    if bug is not None and bug not in MUTANTS:
        raise ValueError(bug)

    def loss_fun(params: dict[str, Any], inputs: list[int], targets: list[int], hprev: Any) -> Any:
        Wxh, Whh, Why = params["Wxh"], params["Whh"], params["Why"]
        bh, by = params["bh"], params["by"]
        vocab = Wxh.shape[1]
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0.0
        for t in range(len(inputs)):
            xs[t] = np.zeros((vocab, 1), dtype=Wxh.dtype)
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
            ys[t] = np.dot(Why, hs[t]) + by
            ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
            loss += -np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby = np.zeros_like(bh), np.zeros_like(by)
        if bug == "truncated_3":
            # Truncated BPTT: each step's loss flows back through at most 3 steps.
            for t in range(len(inputs)):
                dy = np.copy(ps[t])
                dy[targets[t]] -= 1
                dWhy += np.dot(dy, hs[t].T)
                dby += dy
                dh = np.dot(Why.T, dy)
                for s in range(t, max(t - 3, -1), -1):
                    dhraw = (1 - hs[s] * hs[s]) * dh
                    dbh += dhraw
                    dWxh += np.dot(dhraw, xs[s].T)
                    dWhh += np.dot(dhraw, hs[s - 1].T)
                    dh = np.dot(Whh.T, dhraw)
        else:
            dhnext = np.zeros_like(hs[0])
            for t in reversed(range(len(inputs))):
                dy = np.copy(ps[t])
                dy[targets[t]] -= 1
                if bug == "dy_over_T":
                    dy /= len(inputs)
                if bug == "dy_sign":
                    dy = -dy
                if bug == "why_overwritten":
                    dWhy = np.dot(dy, hs[t].T)
                else:
                    dWhy += np.dot(dy, hs[t].T)
                dby += dy
                dh = np.dot(Why.T, dy) if bug == "no_dhnext" else np.dot(Why.T, dy) + dhnext
                if bug == "derivative_1_minus_h":
                    dhraw = (1 - hs[t]) * dh
                else:
                    dhraw = (1 - hs[t] * hs[t]) * dh
                dbh += dhraw
                dWxh += np.dot(dhraw, xs[t].T)
                dWhh += np.dot(dhraw, (hs[t] if bug == "whh_uses_h_t" else hs[t - 1]).T)
                dhnext = np.dot(Whh.T, dhraw)
        if bug in ("clip_1", "clip_5"):
            bound = 1 if bug == "clip_1" else 5
            for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
                np.clip(dparam, -bound, bound, out=dparam)
        grads = {"Wxh": dWxh, "Whh": dWhh, "Why": dWhy, "bh": dbh, "by": dby}
        if bug == "return_dwhh_T":
            grads["Whh"] = dWhh.T
        if bug == "swap_wxh_whh":
            grads["Wxh"], grads["Whh"] = dWhh, dWxh
        return loss, grads

    return loss_fun
