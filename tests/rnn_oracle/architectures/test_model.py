"""The network forward pass against independent computations.

Each architecture is checked against a composition of simpler networks (the single-layer
model of :mod:`rnn_oracle.model`, or a many_to_many network run on other inputs), and
the cells and the one_to_many feedback loop against formulas written out here in NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from rnn_oracle import RNNSpec
from rnn_oracle.architectures import NetworkCase, NetworkSpec, make_network_case
from rnn_oracle.architectures.cells import step
from rnn_oracle.architectures.model import NetworkTrajectory, forward
from rnn_oracle.model import forward as single_layer_forward

CELLS = ("tanh", "sigmoid", "relu", "identity", "gru", "lstm")
HEADS = ("softmax_ce", "linear_mse", "none")


def run(case: NetworkCase, arrays: Mapping[str, Any] | None = None) -> NetworkTrajectory:
    """The forward pass of ``case`` (optionally with other arrays) in NumPy."""
    spec = case.spec
    targets = None
    if spec.head == "softmax_ce":
        assert case.targets is not None
        targets = np.eye(spec.n_y)[case.targets]
    elif spec.head == "linear_mse":
        targets = case.targets
    return forward(spec, dict(arrays or case.arrays), np, targets=targets,
                   upstream=case.upstream, out_len=case.out_len)


def block(arrays: Mapping[str, Any], prefix: str, new: str = "layer0.forward.") -> dict[str, Any]:
    """The parameters (and initial states) of block ``prefix``, renamed to ``new``."""
    return {new + k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def head_loss(spec: NetworkSpec, top: np.ndarray, case: NetworkCase) -> float:
    """The loss of a head reading ``top`` ``(T_out, [B,] n_top)``, written out here."""
    batch = top.shape[1] if top.ndim == 3 else 1
    weight = spec.sign
    if spec.time_reduction == "mean":
        weight /= top.shape[0]
    if spec.batch_reduction == "mean" and top.ndim == 3:
        weight /= batch
    if spec.head == "none":
        return float(weight * np.sum(case.upstream * top))
    o = top @ case.arrays["W_hy"].T + case.arrays["b_y"]
    if spec.head == "linear_mse":
        return float(0.5 * weight * np.sum((o - case.targets) ** 2))
    log_p = o - np.log(np.sum(np.exp(o), axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, np.asarray(case.targets)[..., None], axis=-1)
    return float(-weight * np.sum(picked))


# -- single layer --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS[:4])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("batch", [None, 3])
def test_vanilla_many_to_many_is_the_single_layer_model(
    cell: str, head: str, batch: int | None
) -> None:
    spec = NetworkSpec(cell=cell, head=head, n_x=2, n_h=4, n_y=3, loss_sign="negated",
                       time_reduction="mean")
    case = make_network_case(spec, 5, batch, seed=1)
    traj = run(case)
    single = RNNSpec(cell=cell, n_x=2, n_h=4, n_y=3, head=head,  # type: ignore[arg-type]
                     loss_sign="negated", time_reduction="mean")
    a = case.arrays
    params = {"W_hh": a["layer0.forward.W_hh"], "W_xh": a["layer0.forward.W_xh"],
              "b_h": a["layer0.forward.b_h"]}
    if head != "none":
        params.update(W_hy=a["W_hy"], b_y=a["b_y"])
    targets = None if head != "softmax_ce" else np.eye(3)[case.targets]
    if head == "linear_mse":
        targets = case.targets
    ref = single_layer_forward(single, params, a["inputs"], a["layer0.forward.h0"], np,
                               targets=targets, upstream=case.upstream)
    np.testing.assert_allclose(traj.top, ref.h, rtol=1e-15, atol=0)
    assert float(traj.loss) == pytest.approx(float(ref.loss), rel=1e-14)
    assert traj.weight == ref.weight
    if head != "none":
        np.testing.assert_allclose(np.asarray(traj.o), np.asarray(ref.o), rtol=1e-14,
                                   atol=1e-15)
    assert float(traj.loss) == pytest.approx(head_loss(spec, ref.h, case), rel=1e-13)


# -- compositions --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["tanh", "gru", "lstm"])
def test_bidirectional_halves_are_forward_networks_on_the_sequence_and_its_reverse(
    cell: str,
) -> None:
    spec = NetworkSpec(architecture="bidirectional", cell=cell, n_x=2, n_h=3, n_y=2)
    case = make_network_case(spec, 6, 2, seed=2)
    top = np.asarray(run(case).top)
    assert top.shape == (6, 2, 6)
    m2m = NetworkSpec(cell=cell, n_x=2, n_h=3, head="none")
    for direction, flip in (("forward", False), ("backward", True)):
        arrays = block(case.arrays, f"layer0.{direction}.")
        x = case.arrays["inputs"]
        one = make_network_case(m2m, 6, 2, seed=0).with_arrays(
            **arrays, inputs=x[::-1] if flip else x)
        h = np.asarray(run(one).top)
        half = top[..., :3] if direction == "forward" else top[..., 3:]
        np.testing.assert_allclose(half, h[::-1] if flip else h, rtol=1e-14, atol=1e-15)
    assert float(run(case).loss) == pytest.approx(head_loss(spec, top, case), rel=1e-13)


@pytest.mark.parametrize("cell", ["relu", "gru"])
@pytest.mark.parametrize("head", ["softmax_ce", "none"])
def test_stacked_is_a_composition_of_single_layers(cell: str, head: str) -> None:
    spec = NetworkSpec(architecture="stacked", cell=cell, n_x=2, n_h=3, n_y=2, n_layers=3,
                       head=head, batch_reduction="mean")
    case = make_network_case(spec, 4, 2, seed=3, scale=0.8)
    seq = case.arrays["inputs"]
    for layer in range(3):
        n_in = 2 if layer == 0 else 3
        one = make_network_case(NetworkSpec(cell=cell, n_x=n_in, n_h=3, head="none"), 4, 2)
        one = one.with_arrays(**block(case.arrays, f"layer{layer}.forward."), inputs=seq)
        seq = np.asarray(run(one).top)
    traj = run(case)
    np.testing.assert_allclose(traj.top, seq, rtol=1e-14, atol=1e-15)
    assert float(traj.loss) == pytest.approx(head_loss(spec, seq, case), rel=1e-13)


def test_deep_bidirectional_is_a_composition_of_bidirectional_layers() -> None:
    spec = NetworkSpec(architecture="deep_bidirectional", cell="lstm", n_x=2, n_h=3, n_y=2,
                       head="linear_mse")
    case = make_network_case(spec, 5, seed=4)
    seq = case.arrays["inputs"]
    for layer in range(2):
        n_in = 2 if layer == 0 else 6
        bi = NetworkSpec(architecture="bidirectional", cell="lstm", n_x=n_in, n_h=3,
                         head="none")
        arrays = {**block(case.arrays, f"layer{layer}.forward.", "layer0.forward."),
                  **block(case.arrays, f"layer{layer}.backward.", "layer0.backward.")}
        one = make_network_case(bi, 5).with_arrays(**arrays, inputs=seq)
        seq = np.asarray(run(one).top)
    traj = run(case)
    np.testing.assert_allclose(traj.top, seq, rtol=1e-14, atol=1e-15)
    assert float(traj.loss) == pytest.approx(head_loss(spec, seq, case), rel=1e-13)


@pytest.mark.parametrize("cell", ["sigmoid", "lstm"])
def test_encoder_decoder_starts_the_decoder_from_the_encoders_final_state(cell: str) -> None:
    spec = NetworkSpec(architecture="encoder_decoder", cell=cell, n_x=2, n_h=3, n_y=4)
    case = make_network_case(spec, 4, 2, seed=5, out_len=3)
    m2m = NetworkSpec(cell=cell, n_x=2, n_h=3, head="none")
    enc = make_network_case(m2m, 4, 2).with_arrays(
        **block(case.arrays, "encoder."), inputs=case.arrays["inputs"])
    final = run(enc).runs[0].final  # (h_T,) or (h_T, c_T)
    assert np.array_equal(final[0], run(enc).top[-1])
    states = {f"layer0.forward.{s}0": v for s, v in zip(spec.state_names, final, strict=True)}
    dec = make_network_case(m2m, 3, 2).with_arrays(
        **block(case.arrays, "decoder."), **states, inputs=case.arrays["decoder_inputs"])
    top = np.asarray(run(dec).top)
    traj = run(case)
    np.testing.assert_allclose(traj.top, top, rtol=1e-14, atol=1e-15)
    assert float(traj.loss) == pytest.approx(head_loss(spec, top, case), rel=1e-13)


@pytest.mark.parametrize("cell", ["tanh", "gru"])
def test_many_to_one_reads_the_last_step_only(cell: str) -> None:
    spec = NetworkSpec(architecture="many_to_one", cell=cell, n_x=2, n_h=3, n_y=3,
                       time_reduction="mean")
    case = make_network_case(spec, 5, 2, seed=6)
    m2m = make_network_case(NetworkSpec(cell=cell, n_x=2, n_h=3, head="none"), 5, 2)
    h = np.asarray(run(m2m.with_arrays(**block(case.arrays, "layer0.forward."),
                                       inputs=case.arrays["inputs"])).top)
    traj = run(case)
    np.testing.assert_allclose(traj.top, h[-1:], rtol=1e-14, atol=1e-15)
    # A mean over time divides by the one step the head sees.
    assert float(traj.loss) == pytest.approx(head_loss(spec, h[-1:], case), rel=1e-13)


# -- one_to_many, unrolled by hand -------------------------------------------------------------
@pytest.mark.parametrize(("feedback", "head"), [
    ("none", "softmax_ce"), ("none", "none"), ("output", "softmax_ce"),
    ("output", "linear_mse"), ("hidden", "linear_mse"), ("hidden", "none"),
])
@pytest.mark.parametrize("batch", [None, 2])
def test_one_to_many_is_the_hand_unrolled_loop(feedback: str, head: str,
                                               batch: int | None) -> None:
    spec = NetworkSpec(architecture="one_to_many", feedback=feedback, head=head, n_x=3,
                       n_h=3, n_y=3, cell="tanh")
    case = make_network_case(spec, 1, batch, seed=7, out_len=5)
    a = case.arrays
    W_xh, W_hh, b = (a[f"layer0.forward.{n}"] for n in ("W_xh", "W_hh", "b_h"))
    h = a["layer0.forward.h0"]
    x = a["inputs"][0]
    targets, upstream = np.asarray(case.targets), np.asarray(case.upstream)
    total = 0.0
    hs = []
    for t in range(5):
        h = np.tanh(x @ W_xh.T + h @ W_hh.T + b)  # rows: (W h)ᵀ = hᵀ Wᵀ
        hs.append(h)
        if head == "none":
            total += float(np.sum(upstream[t] * h))
            x = h if feedback == "hidden" else np.zeros_like(x)
            continue
        o = h @ a["W_hy"].T + a["b_y"]
        if head == "softmax_ce":
            p = np.exp(o) / np.sum(np.exp(o), axis=-1, keepdims=True)
            picked = np.take_along_axis(p, targets[t][..., None], axis=-1)
            total -= float(np.sum(np.log(picked)))
        else:
            p = o
            total += 0.5 * float(np.sum((o - targets[t]) ** 2))
        x = {"none": np.zeros_like(x), "output": p, "hidden": h}[feedback]
    traj = run(case)
    np.testing.assert_allclose(traj.top, np.stack(hs), rtol=1e-14, atol=1e-15)
    assert float(traj.loss) == pytest.approx(total, rel=1e-13)


# -- the gated cells, formula by formula ---------------------------------------------------------
def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def test_gru_step_is_torchs_formula() -> None:
    rng = np.random.default_rng(0)
    n_x, n_h, batch = 2, 3, 4
    W_i, W_h = rng.standard_normal((3 * n_h, n_x)), rng.standard_normal((3 * n_h, n_h))
    b_i, b_h = rng.standard_normal(3 * n_h), rng.standard_normal(3 * n_h)
    x, h = rng.standard_normal((batch, n_x)), rng.standard_normal((batch, n_h))
    W_ir, W_iz, W_in = W_i[:n_h], W_i[n_h:2 * n_h], W_i[2 * n_h:]
    W_hr, W_hz, W_hn = W_h[:n_h], W_h[n_h:2 * n_h], W_h[2 * n_h:]
    b_ir, b_iz, b_in = b_i[:n_h], b_i[n_h:2 * n_h], b_i[2 * n_h:]
    b_hr, b_hz, b_hn = b_h[:n_h], b_h[n_h:2 * n_h], b_h[2 * n_h:]
    for k in range(batch):  # column vectors, one sample at a time
        xk, hk = x[k], h[k]
        r = _sigmoid(W_ir @ xk + b_ir + W_hr @ hk + b_hr)
        z = _sigmoid(W_iz @ xk + b_iz + W_hz @ hk + b_hz)
        n = np.tanh(W_in @ xk + b_in + r * (W_hn @ hk + b_hn))
        expected = (1 - z) * n + z * hk
        u = W_i @ xk + b_i
        (got,), _ = step("gru", {"W_hh": W_h, "b_hh": b_h}, u, (hk,), np)
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)
    (rows,), _ = step("gru", {"W_hh": W_h, "b_hh": b_h}, x @ W_i.T + b_i, (h,), np)
    assert rows.shape == (batch, n_h)


def test_lstm_step_is_torchs_formula() -> None:
    rng = np.random.default_rng(1)
    n_x, n_h = 3, 2
    W_i, W_h = rng.standard_normal((4 * n_h, n_x)), rng.standard_normal((4 * n_h, n_h))
    b_i, b_h = rng.standard_normal(4 * n_h), rng.standard_normal(4 * n_h)
    x, h, c = rng.standard_normal(n_x), rng.standard_normal(n_h), rng.standard_normal(n_h)
    pre = [W_i[k * n_h:(k + 1) * n_h] @ x + b_i[k * n_h:(k + 1) * n_h]
           + W_h[k * n_h:(k + 1) * n_h] @ h + b_h[k * n_h:(k + 1) * n_h] for k in range(4)]
    i, f, g, o = _sigmoid(pre[0]), _sigmoid(pre[1]), np.tanh(pre[2]), _sigmoid(pre[3])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    (got_h, got_c), _ = step("lstm", {"W_hh": W_h, "b_hh": b_h}, W_i @ x + b_i, (h, c), np)
    np.testing.assert_allclose(got_c, c_new, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got_h, h_new, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_many_to_many_is_the_stepped_loop(cell: str) -> None:
    """The whole network: the block's parameters are used as the formulas above say (the
    input bias ``b_xh`` inside ``u``, ``b_hh`` with the recurrent part)."""
    spec = NetworkSpec(cell=cell, n_x=2, n_h=3, n_y=3, head="linear_mse")
    case = make_network_case(spec, 4, 2, seed=8)
    a = block(case.arrays, "layer0.forward.", "")
    state: tuple[np.ndarray, ...] = (a["h0"], a["c0"]) if cell == "lstm" else (a["h0"],)
    hs = []
    for t in range(4):
        u = case.arrays["inputs"][t] @ a["W_xh"].T + a["b_xh"]
        state, _ = step(cell, {"W_hh": a["W_hh"], "b_hh": a["b_hh"]}, u, state, np)
        hs.append(state[0])
    np.testing.assert_allclose(run(case).top, np.stack(hs), rtol=1e-14, atol=1e-15)


# -- reductions -----------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", ["many_to_one", "encoder_decoder", "bidirectional"])
def test_reductions_and_sign_scale_the_loss(architecture: str) -> None:
    base = NetworkSpec(architecture=architecture, cell="gru")  # type: ignore[arg-type]
    case = make_network_case(base, 4, 3, seed=9)
    total = float(run(case).loss)
    for time, batch_red, sign in (("mean", "sum", "standard"), ("sum", "mean", "negated"),
                                  ("mean", "mean", "negated")):
        spec = base.replace(time_reduction=time, batch_reduction=batch_red, loss_sign=sign)
        other = NetworkCase(spec, case.arrays, targets=case.targets)
        factor = (-1.0 if sign == "negated" else 1.0) / (
            (case.out_len if time == "mean" else 1) * (3 if batch_red == "mean" else 1))
        assert float(run(other).loss) == pytest.approx(factor * total, rel=1e-14)
