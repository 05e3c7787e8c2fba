"""The network oracle passes correct torch RNN/GRU/LSTM stacks and Flax cells, in
float64 and float32, catches mutated ones, leaves the user's module untouched, and refuses
what it cannot check with a clear OracleError.

Correct gradients come from torch's and Flax's own autograd (no rnn_oracle code); a mutant
transforms them after the fact, as a buggy backward would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnn_oracle as ro
from rnn_oracle.architectures import NetworkSpec
from rnn_oracle.oracle import check_network_gradients

torch = pytest.importorskip("torch")

KINDS = {"tanh": "RNN", "relu": "RNN", "gru": "GRU", "lstm": "LSTM"}


def make_module(cell: str, layers: int, bidirectional: bool, batch_first: bool,
                n_x: int = 3, n_h: int = 4, dtype: Any = None) -> Any:
    extra = {"nonlinearity": cell} if KINDS[cell] == "RNN" else {}
    return getattr(torch.nn, KINDS[cell])(
        n_x, n_h, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
        dtype=dtype or torch.float32, **extra,
    )


def arch(layers: int, bidirectional: bool) -> str:
    return {(False, False): "many_to_many", (True, False): "stacked",
            (False, True): "bidirectional", (True, True): "deep_bidirectional"}[
        (layers > 1, bidirectional)]


def network_spec(cell: str, layers: int, bidirectional: bool, n_x: int = 3,
                 n_h: int = 4) -> NetworkSpec:
    return NetworkSpec(arch(layers, bidirectional), cell=cell, n_x=n_x, n_h=n_h,  # type: ignore[arg-type]
                       n_y=1, n_layers=layers, head="none")


def torch_fn(
    cell: str, layers: int, bidirectional: bool, batch_first: bool = False,
    mutate: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> Callable[..., dict[str, np.ndarray]]:
    """A layer-mode function in torch's names whose gradients are torch autograd's, then
    passed through ``mutate`` (the slip under test)."""

    def fn(params: dict[str, np.ndarray], inputs: np.ndarray, states: dict[str, np.ndarray],
           upstream: np.ndarray) -> dict[str, np.ndarray]:
        dtype = torch.float64 if inputs.dtype == np.float64 else torch.float32
        m = make_module(cell, layers, bidirectional, batch_first, inputs.shape[-1],
                        states["h0"].shape[-1], dtype)
        named = dict(m.named_parameters())
        with torch.no_grad():
            for k, v in params.items():
                named[k].copy_(torch.from_numpy(v))
        x = torch.tensor(inputs, requires_grad=True)
        s = {k: torch.tensor(v, requires_grad=True) for k, v in states.items()}
        out, _ = m(x, (s["h0"], s["c0"]) if cell == "lstm" else s["h0"])
        wrt = [*named.values(), x, *s.values()]
        g = torch.autograd.grad(out, wrt, torch.tensor(upstream))
        grads = {n: v.numpy().copy() for n, v in zip([*named, "inputs", *s], g, strict=True)}
        if mutate is not None:
            mutate(grads)
        return grads

    return fn


# -- correct modules pass ------------------------------------------------------------------
@given(
    cell=st.sampled_from(sorted(KINDS)),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    batch=st.sampled_from([None, 2]),
    seed=st.integers(0, 10_000),
)
def test_correct_torch_modules_pass_float64(cell: str, layers: int, bidirectional: bool,
                                            batch_first: bool, batch: int | None,
                                            seed: int) -> None:
    m = make_module(cell, layers, bidirectional, batch_first)
    report = check_network_gradients(m, cases=2, seed=seed, batch=batch)
    assert report.passed, report
    for g in report.gradients:
        # Measured: torch float64 autograd and hand BPTT agree to ~1e-15 of the largest entry.
        scale = max(float(np.max(np.abs(g.reference))), 1e-300)
        assert g.max_abs_error is not None and g.max_abs_error <= 1e-13 * scale, g


@given(
    cell=st.sampled_from(sorted(KINDS)),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    seed=st.integers(0, 10_000),
    scale=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
)
def test_correct_torch_modules_pass_float32(cell: str, layers: int, bidirectional: bool,
                                            batch_first: bool, seed: int,
                                            scale: float) -> None:
    m = make_module(cell, layers, bidirectional, batch_first)
    report = check_network_gradients(m, cases=2, seed=seed, dtype="float32", scale=scale)
    assert report.passed, report


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float32_and_float64_catch_a_doubled_gradient(dtype: str) -> None:
    def double(g: dict[str, np.ndarray]) -> None:
        g["weight_hh_l1"] = g["weight_hh_l1"] * np.asarray(1.01, dtype=g["weight_hh_l1"].dtype)

    fn = torch_fn("gru", 2, False, mutate=double)
    report = check_network_gradients(fn, spec=network_spec("gru", 2, False), names="torch",
                                     dtype=dtype)
    # A 1 % error is far above float32 rounding: caught in both precisions.
    assert not report.passed
    assert list(report.causes) == ["weight_hh_l1"]


def test_report_names_are_torch_names_with_canonical_alongside() -> None:
    m = make_module("lstm", 2, True, True)
    report = check_network_gradients(m, cases=1)
    assert report.passed
    g = report["weight_hh_l1_reverse"]
    assert g.mapping == "layer1.backward.W_hh"
    assert report["h0[3]"].mapping == "layer1.backward.h0"
    assert report["c0[0]"].mapping == "layer0.forward.c0"
    assert report["inputs"].mapping == "inputs (batch first)"
    assert report.convention == "torch"
    assert "PASS" in str(report)
    report.to_json()


@pytest.mark.parametrize(("cell", "layers", "bidirectional"),
                         [("gru", 1, False), ("tanh", 1, False), ("tanh", 2, True)])
def test_check_gradients_takes_every_module_as_a_network(cell: str, layers: int,
                                                         bidirectional: bool) -> None:
    """A one-layer nn.RNN is the smallest network: the same path, names and mapping."""
    report = ro.check_gradients(make_module(cell, layers, bidirectional, False, 5, 6), cases=1)
    assert report.passed and report.convention == "torch"
    assert (report.spec.n_x, report.spec.n_h) == (5, 6)  # read from the module
    assert report["weight_ih_l0"].mapping == "layer0.forward.W_xh"
    assert report[f"h0[{layers * (1 + bidirectional) - 1}]"].mapping == (
        f"layer{layers - 1}.{'backward' if bidirectional else 'forward'}.h0")


@pytest.mark.parametrize(("cell", "layers", "bidirectional"),
                         [("tanh", 1, False), ("lstm", 2, True)])
def test_user_module_is_untouched(cell: str, layers: int, bidirectional: bool) -> None:
    m = make_module(cell, layers, bidirectional, False)
    m.train()
    m.weight_hh_l0.requires_grad_(False)
    before = {k: v.detach().clone() for k, v in m.state_dict().items()}
    ro.check_gradients(m, cases=1)
    assert m.training
    assert not m.weight_hh_l0.requires_grad and m.weight_ih_l0.requires_grad
    assert all(p.grad is None for p in m.parameters())
    assert all(v.dtype == torch.float32 for v in m.state_dict().values())
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def _blocks_transposed(g: Any) -> Any:
    n = g.shape[1]
    return torch.cat([g[k * n : (k + 1) * n].T for k in range(g.shape[0] // n)]).contiguous()


def _keras_order(g: Any) -> Any:
    n = g.shape[0] // 3
    return torch.cat([g[n : 2 * n], g[:n], g[2 * n :]]).contiguous()


class TamperedGRU(torch.nn.GRU):
    """A GRU whose backward transforms one parameter's gradient (a custom-kernel slip)."""

    tamper = "weight_hh_l1_reverse"
    transform: Callable[[Any], Any] = staticmethod(_blocks_transposed)

    def forward(self, x: Any, hx: Any = None) -> Any:
        transform = self.transform

        class Tamper(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, w: Any) -> Any:
                return w.view_as(w)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return transform(g)

        saved = self._flat_weights
        k = self._flat_weights_names.index(self.tamper)
        self._flat_weights = [Tamper.apply(w) if i == k else w for i, w in enumerate(saved)]
        try:
            return super().forward(x, hx)
        finally:
            self._flat_weights = saved


@pytest.mark.parametrize(
    ("tamper", "transform", "cause", "where", "detail"),
    [
        ("weight_hh_l1_reverse", _blocks_transposed, "transposed",
         (1, "backward"), "each gate block is transposed"),
        ("weight_ih_l0", _keras_order, "gates_permuted",
         (0, "forward"), "gate blocks in order (z, r, n) instead of torch's (r, z, n)"),
    ],
)
def test_tampered_module_is_caught_with_layer_and_direction(
    tamper: str, transform: Callable[[Any], Any], cause: str, where: tuple[int, str],
    detail: str,
) -> None:
    m = TamperedGRU(3, 4, num_layers=2, bidirectional=True)
    m.tamper = tamper
    m.transform = transform  # type: ignore[method-assign,assignment]
    report = ro.check_gradients(m, cases=2)
    assert not report.passed
    assert report.causes == {tamper: cause}
    d = report[tamper].diagnosis
    assert d is not None and (d.params["layer"], d.params["direction"]) == where
    assert d.confidence == "exact"
    assert d.detail.startswith(f"layer {where[0]}, {where[1]} direction, ")
    assert detail in d.detail


# -- functions ------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
def test_correct_function_in_torch_names_passes(batch_first: bool) -> None:
    fn = torch_fn("lstm", 2, True, batch_first)
    report = check_network_gradients(fn, spec=network_spec("lstm", 2, True), names="torch",
                                     batch_first=batch_first, cases=2)
    assert report.passed, report


def test_correct_function_in_canonical_names_passes() -> None:
    spec = network_spec("gru", 3, False)
    inner = torch_fn("gru", 3, False)
    from rnn_oracle.architectures import frameworks as fw

    def canonical(params: dict[str, np.ndarray], inputs: np.ndarray,
                  states: dict[str, np.ndarray], upstream: np.ndarray) -> dict[str, np.ndarray]:
        g = inner(fw.params_to_torch(spec, params), inputs, fw.states_to_torch(spec, states),
                  upstream)
        out = fw.params_from_torch(spec, {k: v for k, v in g.items() if k != "inputs"
                                          and k not in ("h0", "c0")})
        out.update(fw.states_from_torch(spec, {"h0": g["h0"]}))
        out["inputs"] = g["inputs"]
        return out

    report = ro.check_gradients(canonical, spec=spec, cases=2)
    assert report.passed, report
    assert report["layer2.forward.W_hh"].mapping == "layer2.forward.W_hh"


# -- Flax -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SimpleCell", "GRUCell", "LSTMCell", "OptimizedLSTMCell"])
def test_correct_flax_cells_pass(name: str) -> None:
    nn = pytest.importorskip("flax.linen")
    cell = getattr(nn, name)(features=4)
    report = ro.check_gradients(cell, cases=2, seq_len=4)
    assert report.passed, report
    report32 = ro.check_gradients(cell, cases=2, seq_len=4, dtype="float32")
    assert report32.passed, report32


def test_mutated_flax_cell_is_caught() -> None:
    nn = pytest.importorskip("flax.linen")

    class SwappedUpdateGRU(nn.GRUCell):
        """h' = z ∘ n + (1 − z) ∘ h: the update gate's two sides swapped."""

        @nn.compact
        def __call__(self, carry: Any, inputs: Any) -> Any:
            from functools import partial

            h = carry
            dense_h = partial(nn.Dense, features=h.shape[-1], use_bias=False)
            dense_i = partial(nn.Dense, features=h.shape[-1], use_bias=True)
            r = nn.sigmoid(dense_i(name="ir")(inputs) + dense_h(name="hr")(h))
            z = nn.sigmoid(dense_i(name="iz")(inputs) + dense_h(name="hz")(h))
            n = nn.tanh(dense_i(name="in")(inputs) + r * dense_h(name="hn", use_bias=True)(h))
            new_h = z * n + (1.0 - z) * h
            return new_h, new_h

    report = ro.check_gradients(SwappedUpdateGRU(features=4), cases=1, seq_len=4)
    assert not report.passed
    assert "hz.kernel" in report.causes


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_a_module_without_biases_is_checked_on_its_weights(cell: str) -> None:
    """The canonical network with zero biases: the weights, inputs and states are checked."""
    module = getattr(torch.nn, KINDS[cell])(3, 4, num_layers=2, bidirectional=True, bias=False)
    report = ro.check_gradients(module, cases=1)
    assert report.passed, report
    weights = {f"weight_{w}_l{k}{r}" for w in ("ih", "hh") for k in (0, 1)
               for r in ("", "_reverse")}
    states = {f"{s}0[{k}]" for s in (("h", "c") if cell == "lstm" else ("h",))
              for k in range(4)}
    assert {g.name for g in report.gradients} == {*weights, "inputs", *states}


@pytest.mark.parametrize("module", [torch.nn.RNN(3, 4), torch.nn.GRU(3, 4)], ids=["RNN", "GRU"])
def test_modules_refuse_options_they_give_themselves(module: Any) -> None:
    with pytest.raises(ro.OracleError, match="leave convention out"):
        ro.check_gradients(module, convention="torch")
    with pytest.raises(ro.OracleError, match="layer mode"):
        ro.check_gradients(module, mode="model")
    with pytest.raises(ro.OracleError, match="NetworkSpec"):
        ro.check_gradients(module, spec=ro.RNNSpec())
    with pytest.raises(ro.OracleError, match="read from it"):
        check_network_gradients(module, names="torch")


def test_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ro.OracleError, match="proj_size"):
        check_network_gradients(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ro.OracleError, match=r"Linear: expected a torch\.nn\.RNN.*parameter names"):
        ro.check_gradients(torch.nn.Linear(3, 5))
    with pytest.raises(ro.OracleError, match="dropout"):
        check_network_gradients(torch.nn.GRU(3, 4, num_layers=2, dropout=0.5))
    # In eval mode dropout does nothing: checked.
    assert check_network_gradients(torch.nn.GRU(3, 4, num_layers=2, dropout=0.5).eval(),
                                   cases=1).passed
    with pytest.raises(ro.OracleError, match=r"spec\.n_h is 5 but GRU has n_h = 4"):
        check_network_gradients(torch.nn.GRU(3, 4), spec=network_spec("gru", 1, False, n_h=5))
    with pytest.raises(ro.OracleError, match="needs a NetworkSpec"):
        check_network_gradients(torch_fn("gru", 1, False))
    with pytest.raises(ro.OracleError, match="architecture"):
        check_network_gradients(torch_fn("gru", 1, False),
                                spec=NetworkSpec("many_to_one", cell="gru"))


def test_function_protocol_errors_name_the_gradient() -> None:
    spec = network_spec("gru", 2, False)

    def drop(g: dict[str, np.ndarray]) -> None:
        del g["weight_hh_l1"]

    with pytest.raises(ro.OracleError, match=r"missing \['weight_hh_l1'\]"):
        check_network_gradients(torch_fn("gru", 2, False, mutate=drop), spec=spec,
                                names="torch", cases=1)

    def wrong_h0(g: dict[str, np.ndarray]) -> None:
        g["h0"] = g["h0"][0]

    with pytest.raises(ro.OracleError, match="h0"):
        check_network_gradients(torch_fn("gru", 2, False, mutate=wrong_h0), spec=spec,
                                names="torch", cases=1)

    def as_float32(g: dict[str, np.ndarray]) -> None:
        g["bias_ih_l0"] = g["bias_ih_l0"].astype(np.float32)

    with pytest.raises(ro.OracleError, match=r"bias_ih_l0.*float64"):
        check_network_gradients(torch_fn("gru", 2, False, mutate=as_float32), spec=spec,
                                names="torch", cases=1)
    with pytest.raises(ro.OracleError, match="names"):
        check_network_gradients(torch_fn("gru", 2, False), spec=spec, names="keras")


def test_a_module_started_from_zero_states_is_checked_there() -> None:
    """``initial_state="zero"`` is honoured for modules too: the case's states are zero
    (the module is called with them) and their gradients, which torch returns, are judged."""
    module = torch.nn.LSTM(3, 4).double()
    spec = NetworkSpec(cell="lstm", n_x=3, n_h=4, n_y=1, head="none", initial_state="zero")
    report = ro.check_gradients(module, spec=spec)
    assert report.passed, report.summary
    assert report.spec.initial_state == "zero"
    assert {"h0[0]", "c0[0]"} <= {g.name for g in report.gradients}
