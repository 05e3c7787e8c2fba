"""The built-in cells: instances of rnn_oracle.Cell, each against its framework's own module
(float64, 1e-9) where one exists, else against its equations written independently."""

from __future__ import annotations

import os

import numpy as np
import pytest

from backends import get_backend
from rnn_oracle.architectures import (
    ARCHITECTURES,
    BUILTIN_CELLS,
    NETWORK_CELLS,
    Cell,
    NetworkSpec,
    make_network_case,
    network_reference,
)
from rnn_oracle.architectures.builtin_cells import HAND_BPTT_CELLS
from rnn_oracle.architectures.model import forward
from rnn_oracle.architectures.reference import on_backend

N_IN, N_H, T, B = 3, 4, 5, 2
TOL = 1e-9


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _params(cell: Cell, seed: int = 0) -> dict[str, np.ndarray]:
    rng = _rng(seed)
    return {n: 0.6 * rng.standard_normal(s) for n, s in cell.shapes(N_IN, N_H).items()}


def _run(cell: Cell, p, xs, init) -> np.ndarray:
    """Our step over the sequence: ``(T, B, n_h)`` outputs."""
    state, hs = tuple(init), []
    for x in xs:
        state = cell.run_step(p, state, x, np)
        hs.append(state[0])
    return np.stack(hs)


def _data(seed: int = 1):
    rng = _rng(seed)
    return rng.standard_normal((T, B, N_IN)), rng.standard_normal((B, N_H))


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# -- the hand-BPTT cells are instances of the interface -------------------------------------
def test_every_builtin_is_a_cell_and_the_hand_ones_are_marked() -> None:
    assert all(isinstance(c, Cell) and c.name == n for n, c in BUILTIN_CELLS.items())
    assert HAND_BPTT_CELLS == NETWORK_CELLS
    assert {"keras_gru", "keras_gru_reset_before", "flax_gru", "peephole_lstm", "min_gru",
            "diagonal_linear"} <= set(BUILTIN_CELLS)
    assert all(NetworkSpec(cell=n).hand_bptt == (n in NETWORK_CELLS) for n in BUILTIN_CELLS)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("cell", NETWORK_CELLS)
def test_the_interface_step_of_a_hand_cell_gives_its_hand_bptt(arch: str, cell: str) -> None:
    """stepwise runs the cell's interface step and differentiates it by complex step, step
    by step: independent of the hand forward and the hand backward it is compared with."""
    extra = {"feedback": "output", "head": "linear_mse", "n_x": 3} if arch == "one_to_many" else {}
    case = make_network_case(NetworkSpec(architecture=arch, cell=cell, **extra), seq_len=3,
                             batch=2, seed=5)
    hand = network_reference(case, "numpy", "bptt")
    stepwise = network_reference(case, "numpy", "stepwise")
    assert set(hand.grads) == set(stepwise.grads)
    for name, g in hand.grads.items():
        np.testing.assert_allclose(stepwise.grads[name], g, rtol=0, atol=1e-12, err_msg=name)
    on = on_backend(case, get_backend("numpy"))
    kwargs = {"targets": on.targets, "upstream": on.upstream, "out_len": on.out_len}
    np.testing.assert_allclose(forward(case.spec, on.arrays, np, stepwise=True, **kwargs).loss,
                               forward(case.spec, on.arrays, np, **kwargs).loss, rtol=1e-14)


@pytest.mark.parametrize("cell", sorted(set(BUILTIN_CELLS) - set(NETWORK_CELLS)))
def test_the_other_builtins_references_agree(cell: str) -> None:
    case = make_network_case(NetworkSpec(architecture="stacked", cell=cell), seq_len=4,
                             batch=2, seed=2)
    stepwise = network_reference(case, "numpy", "stepwise")
    methods = [network_reference(case, "numpy", "complex_step")]
    for backend in ("torch", "jax"):
        try:
            __import__(backend)
        except ImportError:
            continue
        methods.append(network_reference(case, backend, "autodiff").numpy())
    for other in methods:
        for name, g in stepwise.grads.items():
            np.testing.assert_allclose(other.grads[name], g, rtol=0, atol=1e-12,
                                       err_msg=f"{other.method}/{other.backend}: {name}")


# -- Keras ---------------------------------------------------------------------------------
def _keras():
    """Keras 3 on the JAX backend (the backend is chosen when keras is first imported)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip(f"keras runs on {keras.backend.backend()!r} here, not jax")
    return keras


def _keras_outputs(reset_after: bool, p, xs, h0, activation: object = "tanh") -> np.ndarray:
    keras = _keras()
    with get_backend("jax").precision("float64"):
        layer = keras.layers.RNN(
            keras.layers.GRUCell(N_H, reset_after=reset_after, activation=activation,
                                 dtype="float64"),
            return_sequences=True, dtype="float64")
        layer.build((B, T, N_IN))
        bias = np.stack([p["b_x"], p["b_h"]]) if reset_after else p["b"]
        layer.set_weights([p["W"].T, p["U"].T, bias])  # kernel, recurrent_kernel, bias
        out = np.asarray(layer(np.swapaxes(xs, 0, 1), initial_state=[h0]))
    assert out.dtype == np.float64
    return np.swapaxes(out, 0, 1)


def _keras_case(reset_after: bool):
    cell = BUILTIN_CELLS["keras_gru" if reset_after else "keras_gru_reset_before"]
    p = _params(cell, 3)
    xs, h0 = _data(4)
    return cell, p, xs, h0


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_matches_keras_in_float64(reset_after: bool) -> None:
    """Keras's GRUCell code, every op in float64: Keras 3's own ``tanh`` computes a
    float64 tensor in float32 on JAX (and torch: its type promotion maps float64 to
    float32 outside TensorFlow), so the candidate activation is JAX's tanh here."""
    jnp = pytest.importorskip("jax.numpy")
    cell, p, xs, h0 = _keras_case(reset_after)
    theirs = _keras_outputs(reset_after, p, xs, h0, activation=jnp.tanh)
    np.testing.assert_allclose(_run(cell, p, xs, (h0,)), theirs, rtol=0, atol=TOL)


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_matches_keras_as_shipped(reset_after: bool) -> None:
    """Keras's GRU as it is, whose tanh rounds to float32: agreement to float32 rounding."""
    cell, p, xs, h0 = _keras_case(reset_after)
    theirs = _keras_outputs(reset_after, p, xs, h0)
    np.testing.assert_allclose(_run(cell, p, xs, (h0,)), theirs, rtol=0, atol=1e-6)


def test_the_two_keras_grus_differ() -> None:
    """reset_after matters (else one test above could pass for the wrong cell)."""
    xs, h0 = _data(4)
    after = _params(BUILTIN_CELLS["keras_gru"], 3)
    before = {"W": after["W"], "U": after["U"], "b": after["b_x"]}
    after["b_h"] = np.zeros_like(after["b_h"])
    a = _run(BUILTIN_CELLS["keras_gru"], after, xs, (h0,))
    b = _run(BUILTIN_CELLS["keras_gru_reset_before"], before, xs, (h0,))
    assert np.max(np.abs(a - b)) > 1e-3


# -- Flax ----------------------------------------------------------------------------------
def test_flax_gru_matches_flax_linen_gru_cell() -> None:
    jax = pytest.importorskip("jax")
    nn = pytest.importorskip("flax.linen")
    jnp = jax.numpy
    xs, h0 = _data(6)
    with get_backend("jax").precision("float64"):
        module = nn.GRUCell(features=N_H, param_dtype=jnp.float64, dtype=jnp.float64)
        params = module.init(jax.random.PRNGKey(0), jnp.asarray(h0), jnp.asarray(xs[0]))
        leaves, tree = jax.tree_util.tree_flatten(params)
        rng = _rng(7)  # biases start at zero: give every entry a value
        params = jax.tree_util.tree_unflatten(
            tree, [jnp.asarray(0.6 * rng.standard_normal(v.shape)) for v in leaves])
        h, theirs = jnp.asarray(h0), []
        for x in xs:
            h, _ = module.apply(params, h, jnp.asarray(x))
            theirs.append(np.asarray(h))
    q = {k: {n: np.asarray(v) for n, v in d.items()} for k, d in params["params"].items()}
    p = {  # Dense kernels are (in, out): our rows are their columns
        "W_i": np.concatenate([q[g]["kernel"].T for g in ("ir", "iz", "in")]),
        "b_i": np.concatenate([q[g]["bias"] for g in ("ir", "iz", "in")]),
        "W_h": np.concatenate([q[g]["kernel"].T for g in ("hr", "hz", "hn")]),
        "b_hn": q["hn"]["bias"],
    }
    assert set(q["hr"]) == {"kernel"} and set(q["hn"]) == {"kernel", "bias"}
    np.testing.assert_allclose(_run(BUILTIN_CELLS["flax_gru"], p, xs, (h0,)), np.stack(theirs),
                               rtol=0, atol=TOL)


# -- peephole LSTM -------------------------------------------------------------------------
def test_peephole_lstm_without_peepholes_is_torch_lstm() -> None:
    torch = pytest.importorskip("torch")
    cell = BUILTIN_CELLS["peephole_lstm"]
    p = _params(cell, 8)
    p["P"] = np.zeros_like(p["P"])
    xs, h0 = _data(9)
    c0 = _rng(10).standard_normal((B, N_H))
    module = torch.nn.LSTMCell(N_IN, N_H, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih.copy_(torch.from_numpy(p["W"]))
        module.weight_hh.copy_(torch.from_numpy(p["U"]))
        module.bias_ih.copy_(torch.from_numpy(p["b"]))
        module.bias_hh.zero_()
        h, c, theirs = torch.from_numpy(h0), torch.from_numpy(c0), []
        for x in xs:
            h, c = module(torch.from_numpy(x), (h, c))
            theirs.append(h.numpy())
    np.testing.assert_allclose(_run(cell, p, xs, (h0, c0)), np.stack(theirs), rtol=0, atol=TOL)


def test_peephole_lstm_matches_its_equations() -> None:
    """Gers & Schmidhuber's peephole LSTM, written gate by gate with separate matrices."""
    cell = BUILTIN_CELLS["peephole_lstm"]
    p = _params(cell, 11)
    xs, h0 = _data(12)
    c0 = _rng(13).standard_normal((B, N_H))
    n = N_H
    W = {g: p["W"][k * n:(k + 1) * n] for k, g in enumerate("ifgo")}
    U = {g: p["U"][k * n:(k + 1) * n] for k, g in enumerate("ifgo")}
    b = {g: p["b"][k * n:(k + 1) * n] for k, g in enumerate("ifgo")}
    peep = {g: p["P"][k * n:(k + 1) * n] for k, g in enumerate("ifo")}
    expected = []
    for row in range(B):
        h, c = h0[row], c0[row]
        outs = []
        for t in range(T):
            x = xs[t, row]
            i = _sigmoid(W["i"] @ x + U["i"] @ h + peep["i"] * c + b["i"])
            f = _sigmoid(W["f"] @ x + U["f"] @ h + peep["f"] * c + b["f"])
            g = np.tanh(W["g"] @ x + U["g"] @ h + b["g"])
            c = f * c + i * g
            o = _sigmoid(W["o"] @ x + U["o"] @ h + peep["o"] * c + b["o"])
            h = o * np.tanh(c)
            outs.append(h)
        expected.append(outs)
    expected = np.swapaxes(np.array(expected), 0, 1)
    np.testing.assert_allclose(_run(cell, p, xs, (h0, c0)), expected, rtol=0, atol=TOL)
    p["P"] = np.zeros_like(p["P"])  # the peepholes matter
    assert np.max(np.abs(_run(cell, p, xs, (h0, c0)) - expected)) > 1e-3


# -- minGRU and the diagonal linear recurrence ----------------------------------------------
def test_min_gru_matches_the_papers_parallel_form() -> None:
    """Feng et al. 2024: h_t = a_t h_{t−1} + b_t with a = 1 − z, b = z ∘ h̃, so
    h_t = A_t (h_0 + Σ_{s ≤ t} b_s / A_s), A_t = Π_{k ≤ t} a_k (the parallel scan)."""
    cell = BUILTIN_CELLS["min_gru"]
    p = _params(cell, 14)
    xs, h0 = _data(15)
    z = _sigmoid(xs @ p["W"][:N_H].T + p["b"][:N_H])
    h_tilde = xs @ p["W"][N_H:].T + p["b"][N_H:]
    A = np.cumprod(1.0 - z, axis=0)
    expected = A * (h0 + np.cumsum(z * h_tilde / A, axis=0))
    np.testing.assert_allclose(_run(cell, p, xs, (h0,)), expected, rtol=0, atol=TOL)


def test_diagonal_linear_matches_its_closed_form() -> None:
    """h_t = λ^t h_0 + Σ_{s ≤ t} λ^{t−s} B x_s with λ = exp(−exp(ν))."""
    cell = BUILTIN_CELLS["diagonal_linear"]
    p = _params(cell, 16)
    xs, h0 = _data(17)
    lam = np.exp(-np.exp(p["nu"]))
    assert np.all((lam > 0) & (lam < 1))
    expected = np.stack([
        lam ** (t + 1) * h0 + sum(lam ** (t - s) * (xs[s] @ p["B"].T) for s in range(t + 1))
        for t in range(T)
    ])
    np.testing.assert_allclose(_run(cell, p, xs, (h0,)), expected, rtol=0, atol=TOL)
