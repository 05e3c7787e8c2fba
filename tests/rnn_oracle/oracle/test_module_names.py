"""A torch module whose parameters have names of its own: ``names=`` maps them to torch's
or canonical names, inferred where the shapes decide, and asked for where they do not.

The modules are written here from torch operations (autograd differentiates them) and,
for the custom-kernel case, with a hand-written ``torch.autograd.Function`` backward.
"""

from __future__ import annotations

from typing import Any

import pytest

import rnn_oracle as ro

torch = pytest.importorskip("torch")


class OwnLSTM(torch.nn.Module):
    """An LSTM in torch's equations and gate order, with names of its own."""

    def __init__(self, n_in: int, n_h: int) -> None:
        super().__init__()
        self.input_proj = torch.nn.Parameter(torch.randn(4 * n_h, n_in))
        self.recurrent = torch.nn.Parameter(torch.randn(4 * n_h, n_h))
        self.b_in = torch.nn.Parameter(torch.zeros(4 * n_h))
        self.b_rec = torch.nn.Parameter(torch.zeros(4 * n_h))
        self.batch_first = False

    def forward(self, x: Any, hc: Any) -> Any:
        h, c = hc[0][0], hc[1][0]
        outs = []
        for x_t in torch.unbind(x):
            a = x_t @ self.input_proj.T + self.b_in + h @ self.recurrent.T + self.b_rec
            i, f, g, o = a.chunk(4, dim=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        return torch.stack(outs), (h[None], c[None])


class ElmanFunction(torch.autograd.Function):
    """A tanh RNN layer with a hand-written backward (the custom-kernel workflow)."""

    @staticmethod
    def forward(ctx: Any, x: Any, h0: Any, U: Any, W: Any, b: Any, slip: str | None) -> Any:
        h, hs = h0, []
        for x_t in torch.unbind(x):
            h = torch.tanh(x_t @ U.T + h @ W.T + b)
            hs.append(h)
        ctx.save_for_backward(x, h0, U, W, torch.stack(hs))
        ctx.slip = slip
        return torch.stack(hs)

    @staticmethod
    def backward(ctx: Any, dout: Any) -> Any:
        x, h0, U, W, hs = ctx.saved_tensors
        dU, dW, db = torch.zeros_like(U), torch.zeros_like(W), torch.zeros_like(U[:, 0])
        dx, dh = torch.zeros_like(x), torch.zeros_like(h0)
        for t in reversed(range(x.shape[0])):
            prev = hs[t - 1] if t else h0
            da = (dout[t] + dh) * (1 - hs[t] ** 2)
            dx[t], dU, db = da @ U, dU + da.T @ x[t], db + da.sum(0)
            dW = dW + (prev.T @ da if ctx.slip == "dW_transposed" else da.T @ prev)
            dh = da @ W
        return dx, dh, dU, dW, db, None


class OwnElman(torch.nn.Module):
    def __init__(self, n_in: int, n_h: int, slip: str | None = None) -> None:
        super().__init__()
        self.U = torch.nn.Parameter(torch.randn(n_h, n_in))
        self.W = torch.nn.Parameter(torch.randn(n_h, n_h))
        self.bias = torch.nn.Parameter(torch.zeros(n_h))
        self.zero = torch.nn.Parameter(torch.zeros(n_h))  # torch's bias_hh, kept at zero
        self.batch_first, self.nonlinearity, self.slip = False, "tanh", slip

    def forward(self, x: Any, h0: Any) -> Any:
        out = ElmanFunction.apply(x, h0[0], self.U, self.W, self.bias + self.zero, self.slip)
        return out, out[-1][None]


ELMAN_NAMES = {"U": "weight_ih_l0", "W": "layer0.forward.W_hh", "bias": "bias_ih_l0",
               "zero": "bias_hh_l0"}


def test_names_inferred_from_shapes_and_reported_as_the_modules() -> None:
    report = ro.check_gradients(OwnLSTM(3, 4).double())
    assert report.passed, report.summary
    assert {g.name for g in report.gradients} >= {"input_proj", "recurrent", "b_in", "b_rec"}
    assert report["recurrent"].mapping == "layer0.forward.W_hh"


def test_a_custom_backward_is_checked_through_names() -> None:
    report = ro.check_gradients(OwnElman(3, 3).double(), names=ELMAN_NAMES)
    assert report.passed, report.summary
    wrong = ro.check_gradients(OwnElman(3, 3, slip="dW_transposed").double(), names=ELMAN_NAMES)
    assert wrong.verdict == "wrong" and wrong.causes == {"W": "transposed"}


def test_a_wrong_mapping_fails_rather_than_passes() -> None:
    """Input and recurrent weights swapped by the user (n_x = n_h, so the shapes agree)."""
    swapped = {**ELMAN_NAMES, "U": "weight_hh_l0", "W": "weight_ih_l0"}
    assert ro.check_gradients(OwnElman(3, 3).double(), names=swapped).verdict == "wrong"


def test_what_the_shapes_do_not_decide_is_asked_for() -> None:
    # n_x = n_h: both weights could be the recurrent one.
    with pytest.raises(ro.OracleError, match=r"do not decide which weight is recurrent.*names="):
        ro.check_gradients(OwnElman(3, 3).double())
    gru = torch.nn.Module()
    gru.a, gru.b = torch.nn.Parameter(torch.zeros(12, 2)), torch.nn.Parameter(torch.zeros(12, 4))
    gru.c, gru.d = torch.nn.Parameter(torch.zeros(12)), torch.nn.Parameter(torch.zeros(12))
    gru.batch_first = False
    with pytest.raises(ro.OracleError, match=r"a GRU's two biases differ"):
        ro.check_gradients(gru)


def test_bad_names_are_named() -> None:
    module = OwnElman(3, 3).double()
    with pytest.raises(ro.OracleError, match=r"names: OwnElman has no parameter 'V'"):
        ro.check_gradients(module, names={**ELMAN_NAMES, "V": "weight_ih_l0"})
    with pytest.raises(ro.OracleError, match=r"names\['U'\]: expected torch's name .* got "
                                             r"'input'"):
        ro.check_gradients(module, names={**ELMAN_NAMES, "U": "input"})
    with pytest.raises(ro.OracleError, match=r"two of OwnElman's parameters are named "
                                             r"'weight_ih_l0'"):
        ro.check_gradients(module, names={**ELMAN_NAMES, "W": "weight_ih_l0"})
    with pytest.raises(ro.OracleError, match=r"names: maps a torch module's own parameter names"):
        ro.check_gradients(lambda *a: None, convention="karpathy", names={"a": "b"})
