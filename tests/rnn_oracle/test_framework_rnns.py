"""The frameworks' own RNN layers, loaded with a case's weights, give the oracle's loss and
gradients (float64). These share no code with rnn_oracle: the layers, the loss and the
backward passes are the frameworks'. The mappings are those of docs/backends.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro

RTOL = 1e-10


def _reference(case: ro.Case) -> Any:
    return ro.reference(case, "numpy", "bptt").numpy()


def _close(got: Any, expected: np.ndarray, what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    d = ro.discrepancy(got, expected)
    assert d.error <= RTOL, (what, d)


@pytest.mark.parametrize("cell", ["tanh", "relu"])
@pytest.mark.parametrize("batch", [3, None])
def test_torch_nn_rnn_matches(cell: str, batch: int | None) -> None:
    torch = pytest.importorskip("torch")
    spec = ro.RNNSpec(cell=cell, n_x=3, n_h=5, n_y=4)  # type: ignore[arg-type]
    case = ro.make_case(spec, 6, batch, seed=7)
    ref = _reference(case)
    p = case.params

    rnn = torch.nn.RNN(3, 5, nonlinearity=cell, dtype=torch.float64)
    head = torch.nn.Linear(5, 4, dtype=torch.float64)
    # torch has two biases where the canonical network has one: any split with
    # bias_ih + bias_hh = b_h is the same network.
    split = np.random.default_rng(1).standard_normal(5)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(p["W_xh"]))
        rnn.weight_hh_l0.copy_(torch.tensor(p["W_hh"]))
        rnn.bias_ih_l0.copy_(torch.tensor(p["b_h"] - split))
        rnn.bias_hh_l0.copy_(torch.tensor(split))
        head.weight.copy_(torch.tensor(p["W_hy"]))
        head.bias.copy_(torch.tensor(p["b_y"]))
    # Time-major input (T, [B,] n_x); h0 gets the leading layers·directions axis.
    x = torch.tensor(case.inputs, requires_grad=True)
    h0 = torch.tensor(case.h0[None, ...], requires_grad=True)
    out, _ = rnn(x, h0)
    logits = head(out).reshape(-1, 4)
    targets = torch.from_numpy(np.asarray(case.targets).reshape(-1))
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    loss.backward()

    _close(loss.detach().numpy(), np.asarray(ref.loss), "loss")
    _close(rnn.weight_ih_l0.grad, ref.grads["W_xh"], "weight_ih_l0")
    _close(rnn.weight_hh_l0.grad, ref.grads["W_hh"], "weight_hh_l0")
    # Both of torch's biases receive the canonical b_h gradient.
    _close(rnn.bias_ih_l0.grad, ref.grads["b_h"], "bias_ih_l0")
    _close(rnn.bias_hh_l0.grad, ref.grads["b_h"], "bias_hh_l0")
    _close(head.weight.grad, ref.grads["W_hy"], "Linear.weight")
    _close(head.bias.grad, ref.grads["b_y"], "Linear.bias")
    _close(h0.grad[0], ref.grads["h0"], "h_0")
    _close(x.grad, ref.grads["inputs"], "input")


@pytest.mark.parametrize("batch", [3, None])
def test_flax_simple_cell_matches(batch: int | None) -> None:
    jax = pytest.importorskip("jax")
    linen = pytest.importorskip("flax.linen", reason="flax is not installed")
    import jax.numpy as jnp

    spec = ro.RNNSpec(cell="tanh", n_x=3, n_h=5, n_y=4)
    case = ro.make_case(spec, 6, batch, seed=8)
    ref = _reference(case)
    p = case.params
    cell = linen.SimpleCell(features=5, param_dtype=jnp.float64)
    head = linen.Dense(4, param_dtype=jnp.float64)

    def loss(params: dict[str, Any], h0: Any, x: Any) -> Any:
        h, total = h0, 0.0
        for t in range(x.shape[0]):
            h, _ = cell.apply({"params": params["cell"]}, h, x[t])
            logits = head.apply({"params": params["head"]}, h)
            log_p = jax.nn.log_softmax(logits, axis=-1)
            total = total - jnp.sum(jnp.take_along_axis(
                log_p, jnp.asarray(case.targets[t])[..., None], axis=-1))
        return total

    with jax.enable_x64(True):
        # Dense kernels are (in, out), applied as x @ kernel: the transposes of the
        # canonical matrices. Only the input Dense ("i") has a bias.
        params = {
            "cell": {
                "i": {"kernel": jnp.asarray(p["W_xh"].T), "bias": jnp.asarray(p["b_h"])},
                "h": {"kernel": jnp.asarray(p["W_hh"].T)},
            },
            "head": {"kernel": jnp.asarray(p["W_hy"].T), "bias": jnp.asarray(p["b_y"])},
        }
        h0, x = jnp.asarray(case.h0), jnp.asarray(case.inputs)
        value, (g, g_h0, g_x) = jax.value_and_grad(loss, argnums=(0, 1, 2))(params, h0, x)
        got = jax.tree.map(np.asarray, (value, g, g_h0, g_x))
    value, g, g_h0, g_x = got
    _close(value, np.asarray(ref.loss), "loss")
    _close(g["cell"]["i"]["kernel"].T, ref.grads["W_xh"], "i.kernel")
    _close(g["cell"]["h"]["kernel"].T, ref.grads["W_hh"], "h.kernel")
    _close(g["cell"]["i"]["bias"], ref.grads["b_h"], "i.bias")
    _close(g["head"]["kernel"].T, ref.grads["W_hy"], "Dense.kernel")
    _close(g["head"]["bias"], ref.grads["b_y"], "Dense.bias")
    _close(g_h0, ref.grads["h0"], "carry")
    _close(g_x, ref.grads["inputs"], "inputs")
