"""Denny Britz's ``RNNNumpy`` (WildML, "Recurrent Neural Networks Tutorial, Part 2"), as
the tutorial has it: no biases, word indices in, ``s[-1] = 0``, and ``bptt`` truncated
after ``bptt_truncate`` steps back from each output (4 by default).

:func:`make` wraps it in the model-mode protocol for the convention :data:`BRITZ`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import rnn_oracle as ro

BRITZ = ro.ParamConvention("britz", {"U": "W_xh", "V": "W_hy", "W": "W_hh"}, inputs="indices",
                           absent=("b_h", "b_y"))
SPEC = ro.RNNSpec(n_x=8, n_h=5, n_y=8, inputs="indices", initial_state="zero")


def softmax(x: Any) -> Any:
    xt = np.exp(x - np.max(x))
    return xt / np.sum(xt)

class RNNNumpy:
    def __init__(self, word_dim: int, hidden_dim: int = 100, bptt_truncate: int = 4) -> None:
        self.word_dim = word_dim
        self.hidden_dim = hidden_dim
        self.bptt_truncate = bptt_truncate
        # The tutorial draws U, V, W at random here; the oracle sets them from its cases.
        self.U = np.zeros((hidden_dim, word_dim))
        self.V = np.zeros((word_dim, hidden_dim))
        self.W = np.zeros((hidden_dim, hidden_dim))

    def forward_propagation(self, x: Any) -> Any:
        T = len(x)
        s = np.zeros((T + 1, self.hidden_dim))
        s[-1] = np.zeros(self.hidden_dim)
        o = np.zeros((T, self.word_dim))
        for t in np.arange(T):
            s[t] = np.tanh(self.U[:, x[t]] + self.W.dot(s[t-1]))
            o[t] = softmax(self.V.dot(s[t]))
        return [o, s]

    def calculate_total_loss(self, x: Any, y: Any) -> Any:
        L = 0
        for i in np.arange(len(y)):
            o, _ = self.forward_propagation(x[i])
            correct_word_predictions = o[np.arange(len(y[i])), y[i]]
            L += -1 * np.sum(np.log(correct_word_predictions))
        return L

    def bptt(self, x: Any, y: Any) -> Any:
        T = len(y)
        o, s = self.forward_propagation(x)
        dLdU = np.zeros(self.U.shape)
        dLdV = np.zeros(self.V.shape)
        dLdW = np.zeros(self.W.shape)
        delta_o = o
        delta_o[np.arange(len(y)), y] -= 1.
        for t in np.arange(T)[::-1]:
            dLdV += np.outer(delta_o[t], s[t].T)
            delta_t = self.V.T.dot(delta_o[t]) * (1 - (s[t] ** 2))
            for bptt_step in np.arange(max(0, t-self.bptt_truncate), t+1)[::-1]:
                dLdW += np.outer(delta_t, s[bptt_step-1])
                dLdU[:, x[bptt_step]] += delta_t
                delta_t = self.W.T.dot(delta_t) * (1 - s[bptt_step-1] ** 2)
        return [dLdU, dLdV, dLdW]


def make(bptt_truncate: int) -> Any:
    """The tutorial's model as ``target(params, inputs, targets, h0) -> (loss, grads)``."""

    def loss_and_grads(params: dict[str, Any], inputs: Any, targets: Any, h0: Any) -> Any:
        hidden, words = params["U"].shape
        model = RNNNumpy(word_dim=words, hidden_dim=hidden, bptt_truncate=bptt_truncate)
        model.U, model.V, model.W = params["U"], params["V"], params["W"]
        dU, dV, dW = model.bptt(inputs, targets)
        return model.calculate_total_loss([inputs], [targets]), {"U": dU, "V": dV, "W": dW}

    return loss_and_grads
