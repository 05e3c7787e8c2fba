"""Each named slip in a stacked / bidirectional / GRU / LSTM backward is detected and named,
with its layer and direction.

The buggy backwards take torch autograd's gradients (independent of rnn_oracle) and apply
the slip; ``local_only`` is an independent torch implementation that detaches the state
between steps. Expected causes are the slips the tests themselves put in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rnn_oracle.oracle import CAUSES, check_network_gradients
from rnn_oracle.oracle.diagnosis import Location, diagnose, locate

torch = pytest.importorskip("torch")

from tests.rnn_oracle.architectures.test_network_check import (  # noqa: E402
    network_spec,
    torch_fn,
)

Mutation = Callable[[dict[str, np.ndarray]], None]


def transpose(name: str) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        g[name] = g[name].T.copy()
    return f


def blocks_transposed(name: str) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        w = g[name]
        n = w.shape[1]
        g[name] = np.concatenate([w[k * n : (k + 1) * n].T for k in range(w.shape[0] // n)])
    return f


def permute(name: str, order: tuple[int, ...]) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        w = g[name]
        n = w.shape[0] // len(order)
        g[name] = np.concatenate([w[k * n : (k + 1) * n] for k in order])
    return f


def scale(name: str, factor: float) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        g[name] = g[name] * factor
    return f


def swap(a: str, b: str) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        g[a], g[b] = g[b].copy(), g[a].copy()
    return f


def copy_from(dst: str, src: str) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        g[dst] = g[src].copy()
    return f


def _zero(name: str) -> Mutation:
    def f(g: dict[str, np.ndarray]) -> None:
        g[name] = np.zeros_like(g[name])
    return f


def _swap_h0_slots(g: dict[str, np.ndarray]) -> None:
    h0 = g["h0"].copy()
    h0[[2, 3]] = h0[[3, 2]]
    g["h0"] = h0


# (cell, layers, bidirectional, mutation, {name: cause}, (layer, direction) of the first,
#  text the detail must contain)
CASES: list[tuple[str, int, bool, Mutation, dict[str, str], tuple[int | None, str | None],
                  str]] = [
    ("tanh", 2, True, transpose("weight_hh_l1_reverse"), {"weight_hh_l1_reverse": "transposed"},
     (1, "backward"), "layer 1, backward direction, W_hh: transposed"),
    ("lstm", 2, False, blocks_transposed("weight_hh_l1"), {"weight_hh_l1": "transposed"},
     (1, "forward"), "each gate block is transposed"),
    ("gru", 2, True, permute("weight_ih_l0", (1, 0, 2)), {"weight_ih_l0": "gates_permuted"},
     (0, "forward"), "gate blocks in order (z, r, n) instead of torch's (r, z, n) — Keras"),
    ("lstm", 1, True, permute("bias_hh_l0_reverse", (0, 1, 3, 2)),
     {"bias_hh_l0_reverse": "gates_permuted"}, (0, "backward"),
     "gate blocks in order (i, f, o, g) instead of torch's (i, f, g, o)"),
    ("gru", 3, False, _zero("bias_hh_l2"), {"bias_hh_l2": "zero"}, (2, "forward"),
     "layer 2, forward direction, b_hh: zero"),
    ("relu", 2, True, scale("bias_ih_l1", -1.0), {"bias_ih_l1": "negated"},
     (1, "forward"), "layer 1, forward direction, b_h: negated"),
    ("lstm", 2, True, swap("weight_hh_l1", "weight_hh_l1_reverse"),
     {"weight_hh_l1": "directions_swapped", "weight_hh_l1_reverse": "directions_swapped"},
     (1, "forward"), "holds the backward direction's gradient"),
    ("gru", 3, False, copy_from("weight_hh_l1", "weight_hh_l2"),
     {"weight_hh_l1": "layers_swapped"}, (1, "forward"), "holds layer 2's gradient"),
    ("tanh", 2, True, _swap_h0_slots,
     {"h0[2]": "directions_swapped", "h0[3]": "directions_swapped"}, (1, "forward"),
     "layer 1, forward direction, h0: holds the backward direction's gradient"),
]


@pytest.mark.parametrize(("cell", "layers", "bi", "mutation", "causes", "where", "detail"),
                         CASES, ids=[f"{c[0]}-{next(iter(c[4].values()))}" for c in CASES])
def test_slip_is_named_with_layer_and_direction(
    cell: str, layers: int, bi: bool, mutation: Mutation, causes: dict[str, str],
    where: tuple[int | None, str | None], detail: str,
) -> None:
    report = check_network_gradients(
        torch_fn(cell, layers, bi, mutate=mutation), spec=network_spec(cell, layers, bi),
        names="torch", cases=2,
    )
    assert not report.passed
    assert report.causes == causes, report
    first = report[next(iter(causes))]
    d = first.diagnosis
    assert d is not None
    assert (d.params["layer"], d.params["direction"]) == where
    assert detail in d.detail, d.detail
    assert d.confidence == "exact"
    assert first.agreeing_cases == first.failing_cases == 2
    assert d.cause in CAUSES


@pytest.mark.parametrize(("factor", "shown"), [(5.0, "T = 5"), (0.5, "1/2"), (2.0, "2")])
def test_reduction_factor_is_named(factor: float, shown: str) -> None:
    report = check_network_gradients(
        torch_fn("lstm", 2, False, mutate=scale("weight_ih_l1", factor)),
        spec=network_spec("lstm", 2, False), names="torch", cases=1, seq_len=5,
    )
    assert report.causes == {"weight_ih_l1": "scaled"}
    d = report["weight_ih_l1"].diagnosis
    assert d is not None and d.params["factor"] == shown


def _detached(cell: str, layers: int, bidirectional: bool) -> Callable[..., Any]:
    """An independent torch stack (nn.GRUCell / nn.LSTMCell / nn.RNNCell steps, torch's
    names) that detaches the state between steps: the recurrent term never flows back."""

    def fn(params: dict[str, np.ndarray], inputs: np.ndarray, states: dict[str, np.ndarray],
           upstream: np.ndarray) -> dict[str, np.ndarray]:
        p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        x = torch.tensor(inputs, requires_grad=True)
        s = {k: torch.tensor(v, requires_grad=True) for k, v in states.items()}
        dirs = ("", "_reverse") if bidirectional else ("",)
        seq = x
        for layer in range(layers):
            outs = []
            for d, suffix in enumerate(dirs):
                k = layer * len(dirs) + d
                w = [p[f"{n}_l{layer}{suffix}"] for n in ("weight_ih", "weight_hh", "bias_ih",
                                                            "bias_hh")]
                h = s["h0"][k]
                c = s["c0"][k] if cell == "lstm" else None
                steps = range(seq.shape[0])
                hs = []
                for t in (reversed(steps) if suffix else steps):
                    if cell == "lstm":
                        h, c = torch._VF.lstm_cell(seq[t], (h, c), *w)
                    elif cell == "gru":
                        h = torch._VF.gru_cell(seq[t], h, *w)
                    else:
                        h = torch._VF.rnn_tanh_cell(seq[t], h, *w)
                    hs.append(h)
                    h = h.detach()
                    c = None if c is None else c.detach()
                if suffix:
                    hs = hs[::-1]
                outs.append(torch.stack(hs))
            seq = torch.cat(outs, dim=-1)
        wrt = [*p.values(), x, *s.values()]
        g = torch.autograd.grad(seq, wrt, torch.tensor(upstream), allow_unused=True)
        names = [*p, "inputs", *s]
        return {n: (v if v is not None else torch.zeros_like(t)).numpy()
                for n, v, t in zip(names, g, wrt, strict=True)}

    return fn


@pytest.mark.parametrize(("cell", "layers", "bi"), [("gru", 2, True), ("lstm", 2, False),
                                                    ("tanh", 1, True)])
def test_detached_state_is_local_only(cell: str, layers: int, bi: bool) -> None:
    report = check_network_gradients(_detached(cell, layers, bi),
                                     spec=network_spec(cell, layers, bi), names="torch",
                                     cases=2)
    assert not report.passed
    causes = set(report.causes.values())
    assert causes == {"local_only"}, report.causes
    d = report["weight_hh_l0"].diagnosis
    assert d is not None and "recurrent term missing" in d.detail


def test_correct_gradients_get_no_diagnosis() -> None:
    report = check_network_gradients(torch_fn("gru", 2, True), spec=network_spec("gru", 2, True),
                                     names="torch", cases=1)
    assert report.passed and all(g.diagnosis is None for g in report.gradients)


def test_noise_is_unknown_not_a_named_cause() -> None:
    rng = np.random.default_rng(0)

    def noisy(g: dict[str, np.ndarray]) -> None:
        g["weight_hh_l1"] = g["weight_hh_l1"] + 0.3 * rng.standard_normal(g["weight_hh_l1"].shape)

    report = check_network_gradients(torch_fn("lstm", 2, False, mutate=noisy),
                                     spec=network_spec("lstm", 2, False), names="torch", cases=1)
    assert report.causes == {"weight_hh_l1": "unknown"}
    d = report["weight_hh_l1"].diagnosis
    assert d is not None and d.detail.startswith("layer 1, forward direction, W_hh")


def test_locate_and_decision_by_numbers() -> None:
    assert str(locate("layer1.backward.W_hh")) == "layer 1, backward direction, W_hh"
    assert locate("inputs") == Location(None, None, "inputs")
    from rnn_oracle.oracle.diagnosis import Candidate

    R = np.arange(1.0, 7.0).reshape(2, 3)
    got = -R + 1e-3  # close to negated, not exactly
    d = diagnose(got, R, [Candidate("negated", "negated", -R),
                          Candidate("zero", "zero", np.zeros_like(R))],
                 1e-10, 1e-10, where=locate("layer0.forward.W_xh"))
    assert d.cause == "negated" and d.confidence == "approximate"
    # Two causes equally close: no decision.
    d = diagnose(got, R, [Candidate("negated", "negated", -R),
                          Candidate("swapped", "other", -R + 2e-3)],
                 1e-10, 1e-10, where=locate("layer0.forward.W_xh"))
    assert d.cause == "unknown"
