"""The conversions of rnn_oracle.architectures.frameworks: our network with converted
weights gives torch's ``nn.RNN/GRU/LSTM`` and Flax's ``GRUCell/LSTMCell`` outputs, final
states and autograd gradients (float64), and the name maps round-trip.

Expected values are the frameworks' own forward passes and autograd; ours are
:func:`rnn_oracle.architectures.model.forward` and hand BPTT.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnn_oracle as ro
from rnn_oracle.architectures import NetworkSpec, make_network_case, network_reference
from rnn_oracle.architectures import frameworks as fw
from rnn_oracle.architectures.model import forward

TOL = 1e-12  # float64, relative to the largest entry; measured agreement is ~1e-15

CELLS = {"tanh": "RNN", "relu": "RNN", "gru": "GRU", "lstm": "LSTM"}


def _close(got: Any, expected: Any, what: str) -> None:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    assert float(np.max(np.abs(got - expected), initial=0.0)) <= TOL * scale, what


# -- pure conversions (no framework) ---------------------------------------------------------
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_torch_names_round_trip(cell: str) -> None:
    spec = fw.layer_network_spec(cell, 3, 4, num_layers=2, bidirectional=True)
    assert spec.architecture == "deep_bidirectional"
    case = make_network_case(spec, 3, 2, seed=1)
    tparams = fw.params_to_torch(spec, case.arrays)
    assert "weight_hh_l1_reverse" in tparams and len(tparams) == 16
    back = fw.params_from_torch(spec, tparams)
    for name in spec.param_names:
        np.testing.assert_array_equal(back[name], case.arrays[name])
    states = fw.states_to_torch(spec, case.arrays)
    assert states["h0"].shape == (4, 2, 4)
    np.testing.assert_array_equal(states["h0"][3], case.arrays["layer1.backward.h0"])
    for name, value in fw.states_from_torch(spec, states).items():
        np.testing.assert_array_equal(value, case.arrays[name])


def test_vanilla_biases_share_b_h() -> None:
    spec = fw.layer_network_spec("tanh", 3, 4)
    names = fw.torch_param_names(spec)
    assert names["bias_ih_l0"] == names["bias_hh_l0"] == "layer0.forward.b_h"
    b_ih, b_hh = np.arange(4.0), np.ones(4)
    params = {"weight_ih_l0": np.zeros((4, 3)), "weight_hh_l0": np.zeros((4, 4)),
              "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    np.testing.assert_array_equal(fw.params_from_torch(spec, params)["layer0.forward.b_h"],
                                  b_ih + b_hh)
    grads = fw.grads_to_torch(spec, {"layer0.forward.W_xh": 0, "layer0.forward.W_hh": 0,
                                     "layer0.forward.b_h": b_ih})
    np.testing.assert_array_equal(grads["bias_ih_l0"], b_ih)
    np.testing.assert_array_equal(grads["bias_hh_l0"], b_ih)


def test_bad_names_and_shapes_are_refused() -> None:
    spec = fw.layer_network_spec("gru", 3, 4, num_layers=2)
    with pytest.raises(ro.OracleError, match=r"missing \[.*'weight_ih_l1'"):
        fw.params_from_torch(spec, {"weight_ih_l0": np.zeros((12, 3))})
    with pytest.raises(ro.OracleError, match=r"h0: expected shape \(2, \[B,\] 4\)"):
        fw.states_from_torch(spec, {"h0": np.zeros((3, 4))})
    with pytest.raises(ro.OracleError, match="architecture"):
        fw.torch_param_names(NetworkSpec("encoder_decoder", cell="gru"))
    with pytest.raises(ro.OracleError, match="spec"):
        fw.torch_param_names("gru")  # type: ignore[arg-type]


def test_flax_names_round_trip() -> None:
    for cell in ("simple", "gru", "lstm"):
        spec = fw.layer_network_spec("tanh" if cell == "simple" else cell, 3, 4)
        case = make_network_case(spec, 2, None, seed=0)
        block = {k.rpartition(".")[2]: v for k, v in case.arrays.items()
                 if k.startswith("layer0.forward.") and not k.endswith(("h0", "c0"))}
        block.update(fw.flax_absent_zero(cell, 4, block))
        tree = fw.params_to_flax(cell, 4, block)
        assert tree[next(iter(fw.FLAX_KERNELS[cell]))]["kernel"].shape == (3, 4)
        back = fw.params_from_flax(cell, tree)
        for name, value in block.items():
            np.testing.assert_array_equal(back[name], value)
    with pytest.raises(ro.OracleError, match="expected modules"):
        fw.params_from_flax("gru", {"ir": {}})


def test_recognition_needs_no_framework() -> None:
    assert fw.torch_rnn_class(object()) is None
    assert fw.flax_cell_kind(3.0) is None
    assert fw.framework_of(lambda: None) is None


# -- torch -----------------------------------------------------------------------------------
@given(
    cell=st.sampled_from(sorted(CELLS)),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    batch=st.sampled_from([None, 1, 3]),
    seq_len=st.integers(1, 4),
    n_x=st.integers(1, 3),
    n_h=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_torch_modules_match_our_network(
    cell: str, layers: int, bidirectional: bool, batch_first: bool, batch: int | None,
    seq_len: int, n_x: int, n_h: int, seed: int,
) -> None:
    torch = pytest.importorskip("torch")
    spec = fw.layer_network_spec(cell, n_x, n_h, layers, bidirectional)
    case = make_network_case(spec, seq_len, batch, seed=seed)
    extra = {"nonlinearity": cell} if CELLS[cell] == "RNN" else {}
    m = getattr(torch.nn, CELLS[cell])(n_x, n_h, num_layers=layers, bidirectional=bidirectional,
                                       batch_first=batch_first, dtype=torch.float64, **extra)
    assert fw.torch_layout(m).spec == spec
    # torch's own random weights, read into canonical form (vanilla: b_h = b_ih + b_hh).
    own = {k: v.detach().numpy() for k, v in m.named_parameters()}
    arrays = {**case.arrays, **fw.params_from_torch(spec, own)}
    named = dict(m.named_parameters())
    x = torch.tensor(fw.sequence_to_torch(arrays["inputs"], batch_first), requires_grad=True)
    states = {k: torch.tensor(v, requires_grad=True)
              for k, v in fw.states_to_torch(spec, arrays).items()}
    out, final = m(x, (states["h0"], states["c0"]) if cell == "lstm" else states["h0"])
    traj = forward(spec, arrays, np, upstream=case.upstream)
    _close(fw.sequence_from_torch(out.detach().numpy(), batch_first), traj.top, "out")
    finals = final if cell == "lstm" else (final,)
    for s, value in zip(spec.state_names, finals, strict=True):
        for k, prefix in fw.torch_state_slots(spec):
            run = next(r for r in traj.runs if r.block.prefix == prefix)
            _close(value[k].detach().numpy(), run.final[spec.state_names.index(s)],
                   f"{s}_n[{k}]")
    # Gradients: torch autograd vs our hand BPTT, in torch's names.
    upstream = torch.tensor(fw.sequence_to_torch(case.upstream, batch_first))
    wrt = [*named.values(), x, *states.values()]
    grads = torch.autograd.grad(out, wrt, upstream)
    got = dict(zip([*named, "inputs", *states], (g.numpy() for g in grads), strict=True))
    ref = network_reference(case.with_arrays(**arrays), "numpy", "bptt").grads
    expected = fw.grads_to_torch(spec, ref)
    expected["inputs"] = fw.sequence_to_torch(ref["inputs"], batch_first)
    expected.update(fw.states_to_torch(spec, ref))
    for name, value in expected.items():
        _close(got[name], value, name)


def test_torch_layout_refusals() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ro.OracleError, match="proj_size: expected 0"):
        fw.torch_layout(torch.nn.LSTM(3, 4, proj_size=2))
    no_bias = fw.torch_layout(torch.nn.RNN(3, 4, bias=False))
    assert not no_bias.bias and list(no_bias.param_names) == ["weight_ih_l0", "weight_hh_l0"]
    with pytest.raises(ro.OracleError, match="dropout: expected 0 in train mode"):
        fw.torch_layout(torch.nn.LSTM(3, 4, num_layers=2, dropout=0.1))
    assert fw.torch_layout(torch.nn.LSTM(3, 4, num_layers=2, dropout=0.1).eval()).cell == "lstm"
    with pytest.raises(ro.OracleError, match=r"expected a torch\.nn\.RNN"):
        fw.torch_layout(torch.nn.Linear(3, 4))

    class MyGRU(torch.nn.GRU):
        pass

    assert fw.torch_rnn_class(MyGRU(3, 4)) == "GRU"
    assert fw.torch_layout(MyGRU(3, 4)).description == "MyGRU (as GRU(3, 4))"


def test_a_module_is_read_by_torchs_parameter_names() -> None:
    """A plain nn.Module with nn.LSTM's names and shapes is read as that LSTM."""
    torch = pytest.importorskip("torch")
    lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)

    class Named(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.batch_first = False
            for name, p in lstm.named_parameters():
                self.register_parameter(name, torch.nn.Parameter(p.detach().clone()))

    layout = fw.torch_layout(Named())
    assert (layout.kind, layout.cell, layout.num_layers, layout.bidirectional) == (
        "LSTM", "lstm", 2, True)
    assert layout.spec == fw.layer_network_spec("lstm", 3, 4, 2, True)
    assert fw.framework_of(Named()) == "torch" and fw.torch_rnn_class(Named()) is None


# -- Flax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SimpleCell", "GRUCell", "LSTMCell", "OptimizedLSTMCell"])
@pytest.mark.parametrize("batch", [None, 2])
def test_flax_cells_match_our_network(name: str, batch: int | None) -> None:
    nn = pytest.importorskip("flax.linen")
    import jax
    import jax.numpy as jnp

    from backends import get_backend

    n_x, n_h, seq_len = 3, 4, 4
    cell_module = getattr(nn, name)(features=n_h)
    kind = fw.flax_cell_kind(cell_module)
    assert kind is not None
    spec = fw.layer_network_spec(fw.flax_layout(cell_module).cell, n_x, n_h)
    case = make_network_case(spec, seq_len, batch, seed=3)
    lstm = kind == "lstm"
    with get_backend("jax").precision("float64"):
        lead = () if batch is None else (batch,)
        h0 = jnp.asarray(case.arrays["layer0.forward.h0"])
        carry = (jnp.asarray(case.arrays["layer0.forward.c0"]), h0) if lstm else h0
        # Flax's own random weights (with nonzero biases), read into canonical form.
        tree = cell_module.init(jax.random.PRNGKey(0), carry, jnp.zeros((*lead, n_x)))["params"]
        # float64 (Flax's param_dtype is float32); biases initialise to zero: shift them.
        tree = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64) + 0.1, tree)
        block = fw.params_from_flax(kind, jax.tree.map(np.asarray, tree))
        arrays = {**case.arrays, **{f"layer0.forward.{k}": v for k, v in block.items()}}

        def run(prm: Any, xs: Any, carry: Any) -> Any:
            outs = []
            for t in range(xs.shape[0]):
                carry, y = cell_module.apply({"params": prm}, carry, xs[t])
                outs.append(y)
            return jnp.stack(outs), carry

        xs = jnp.asarray(arrays["inputs"])
        (ys, final), pull = jax.vjp(run, tree, xs, carry)
        traj = forward(spec, arrays, np, upstream=case.upstream)
        _close(np.asarray(ys), traj.top, "outputs")
        ours_final = traj.runs[0].final
        _close(np.asarray(final[1] if lstm else final), ours_final[0], "h_T")
        if lstm:
            _close(np.asarray(final[0]), ours_final[1], "c_T")
        zero = jax.tree.map(jnp.zeros_like, final)
        g_tree, g_x, g_carry = pull((jnp.asarray(case.upstream), zero))
    ref = network_reference(case.with_arrays(**arrays), "numpy", "bptt").grads
    ref_block = {k.rpartition(".")[2]: np.asarray(v) for k, v in ref.items()
                 if k.startswith("layer0.forward.")}
    expected = fw.params_to_flax(kind, n_h, ref_block)
    for module, leaves in expected.items():
        for leaf, value in leaves.items():
            _close(g_tree[module][leaf], value, f"{module}.{leaf}")
    _close(g_x, ref["inputs"], "inputs")
    _close(g_carry[1] if lstm else g_carry, ref["layer0.forward.h0"], "h0")
    if lstm:
        _close(g_carry[0], ref["layer0.forward.c0"], "c0")
    # The documented relation for the biases Flax lacks.
    if kind == "simple":
        assert spec.cell == "tanh"  # SimpleCell's default activation_fn
    elif kind == "gru":
        _close(ref_block["b_hh"][:n_h], g_tree["ir"]["bias"], "b_hr vs ir.bias")
        _close(ref_block["b_hh"][n_h : 2 * n_h], g_tree["iz"]["bias"], "b_hz vs iz.bias")
    else:
        _close(ref_block["b_xh"], ref_block["b_hh"], "b_xh vs b_hh")
