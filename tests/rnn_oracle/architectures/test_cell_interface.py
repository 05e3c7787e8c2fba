"""rnn_oracle.Cell: a cell declared once runs in every architecture, its references need
no hand derivation (stepwise and whole-loss complex step on NumPy, autodiff on torch and
JAX, cross-checked), and check_gradients judges a user's hand BPTT of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.architectures import (
    ARCHITECTURES,
    BUILTIN_CELLS,
    NetworkSpec,
    make_network_case,
    network_reference,
)
from rnn_oracle.architectures.reference import checking_method


def _two_state_step(p, state, x, xp):
    """A made-up two-state cell: h' = tanh(W x + U h + m), m' = σ(v) ∘ m + h'."""
    h, m = state
    h_new = xp.tanh(x @ p["W"].T + h @ p["U"].T + m)
    return h_new, m / (1.0 + xp.exp(-p["v"])) + h_new


def _two_state_shapes(n_in, n_h):
    return {"W": (n_h, n_in), "U": (n_h, n_h), "v": (n_h,)}


TWO_STATE = ro.Cell("two_state", _two_state_step, _two_state_shapes, states=("h", "m"))


def _abs_step(p, h, x, xp):
    return xp.tanh(x @ p["W"].T + xp.abs(h))


def _abs_shapes(n_in, n_h):
    return {"W": (n_h, n_in)}


def _spec(arch: str, cell) -> NetworkSpec:
    extra = {"feedback": "hidden", "n_x": 4} if arch == "one_to_many" else {}
    return NetworkSpec(architecture=arch, cell=cell, n_h=4, **extra)


def _max_diff(a, b) -> float:
    assert set(a) == set(b)
    return max(float(np.max(np.abs(np.asarray(a[k], dtype=np.float64) - np.asarray(b[k]))))
               for k in a)


# -- the declaration --------------------------------------------------------------------------
def test_a_cell_declares_its_parameters_and_states() -> None:
    spec = NetworkSpec(architecture="bidirectional", cell=TWO_STATE, n_x=3, n_h=4)
    assert spec.state_names == ("h", "m")
    assert spec.param_shapes()["layer0.backward.W"] == (4, 3)
    assert spec.initial_state_names() == ("layer0.forward.h0", "layer0.forward.m0",
                                          "layer0.backward.h0", "layer0.backward.m0")
    assert spec.label == "bidirectional/two_state"
    assert json.loads(json.dumps(spec.to_dict()))["cell"] == "two_state"
    assert hash(spec) == hash(NetworkSpec(architecture="bidirectional", cell=TWO_STATE))
    assert not spec.hand_bptt and spec.cell_def is TWO_STATE


def test_a_builtin_given_as_its_cell_is_stored_by_name() -> None:
    assert NetworkSpec(cell=BUILTIN_CELLS["lstm"]).cell == "lstm"
    assert NetworkSpec(cell=BUILTIN_CELLS["min_gru"]).cell == "min_gru"
    assert NetworkSpec(cell="lstm").cell_def is BUILTIN_CELLS["lstm"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": ""}, "Cell.name"),
    ({"step": 3}, "Cell.step"),
    ({"states": "h"}, "Cell.states"),
    ({"states": ("h", "h")}, "distinct"),
    ({"gates": {"W": "zr"}}, r"Cell.gates\['W'\]"),
    ({"analytic": "yes"}, "Cell.analytic"),
])
def test_bad_declarations_are_refused(kwargs, match) -> None:
    args = {"name": "c", "step": _abs_step, "param_shapes": _abs_shapes, **kwargs}
    with pytest.raises(ro.OracleError, match=match):
        ro.Cell(**args)


@pytest.mark.parametrize(("shapes", "gates", "match"), [
    (lambda n_in, n_h: {"W.x": (n_h, n_in)}, {}, "identifier"),
    (lambda n_in, n_h: {"Wh0": (n_h, n_in)}, {}, "initial state"),
    (lambda n_in, n_h: {"W": (n_h, 0)}, {}, "positive"),
    (lambda n_in, n_h: {"W": (n_h, n_in)}, {"U": ("a", "b")}, "does not declare"),
    (lambda n_in, n_h: {"W": (5, n_in)}, {"W": ("a", "b")}, "equal gate blocks"),
])
def test_bad_shapes_are_refused_when_a_spec_uses_them(shapes, gates, match) -> None:
    cell = ro.Cell("c", _abs_step, shapes, gates=gates)
    with pytest.raises(ro.OracleError, match=match):
        NetworkSpec(cell=cell, n_h=4).param_shapes()


def test_a_step_that_returns_the_wrong_state_is_named() -> None:
    cell = ro.Cell("flat", lambda p, h, x, xp: xp.sum(h), _abs_shapes)
    case = make_network_case(NetworkSpec(cell=cell), seq_len=2, seed=0)
    with pytest.raises(ro.OracleError, match=r"Cell 'flat': its step returned state 'h'"):
        network_reference(case, "numpy", "stepwise")
    pair = ro.Cell("pair", lambda p, s, x, xp: s[0], _abs_shapes, states=("h", "c"))
    case = make_network_case(NetworkSpec(cell=pair), seq_len=2, seed=0)
    with pytest.raises(ro.OracleError, match=r"must return a tuple of 2 arrays"):
        network_reference(case, "numpy", "stepwise")


# -- references without a hand derivation, cross-checked ------------------------------------
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_stepwise_and_complex_step_agree_in_every_architecture(arch: str) -> None:
    case = make_network_case(_spec(arch, TWO_STATE), seq_len=3, batch=2, seed=3)
    stepwise = network_reference(case, "numpy", "stepwise")
    whole = network_reference(case, "numpy", "complex_step")
    assert _max_diff(stepwise.grads, whole.grads) < 1e-12
    assert abs(float(stepwise.loss) - float(whole.loss)) < 1e-12


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("arch", ["many_to_many", "stacked", "deep_bidirectional",
                                  "encoder_decoder", "one_to_many"])
def test_autodiff_agrees_with_stepwise(backend: str, arch: str) -> None:
    pytest.importorskip(backend)
    case = make_network_case(_spec(arch, TWO_STATE), seq_len=3, batch=2, seed=4)
    auto = network_reference(case, backend, "autodiff").numpy()
    assert _max_diff(auto.grads, network_reference(case, "numpy", "stepwise").grads) < 1e-12


def test_bptt_is_not_applicable_without_a_hand_bptt() -> None:
    case = make_network_case(NetworkSpec(cell=TWO_STATE), seq_len=2, seed=0)
    with pytest.raises(ro.OracleError, match=r"^n/a: bptt .* 'two_state' has none"):
        network_reference(case, "numpy", "bptt")
    assert checking_method(case) == "stepwise"
    with pytest.raises(ro.OracleError, match=r"^n/a: stepwise .* not on 'torch'"):
        pytest.importorskip("torch")
        network_reference(case, "torch", "stepwise")


def test_a_step_that_is_not_analytic_is_refused_by_complex_step() -> None:
    cell = ro.Cell("abs_cell", _abs_step, _abs_shapes)
    case = make_network_case(NetworkSpec(cell=cell), seq_len=3, batch=2, seed=0)
    for method in ("complex_step", "stepwise"):
        with pytest.raises(ro.OracleError, match=r"not analytic .* analytic=False"):
            network_reference(case, "numpy", method)


def test_a_cell_declared_not_analytic_is_differentiated_by_autodiff() -> None:
    pytest.importorskip("torch")
    cell = ro.Cell("abs_cell", _abs_step, _abs_shapes, analytic=False)
    case = make_network_case(NetworkSpec(cell=cell, architecture="stacked"), seq_len=3,
                             batch=2, seed=0)
    with pytest.raises(ro.OracleError, match=r"^n/a: complex_step: .*analytic=False"):
        network_reference(case, "numpy", "complex_step")
    stepwise = network_reference(case, "numpy", "stepwise")
    auto = network_reference(case, "torch", "autodiff").numpy()
    fd = network_reference(case, "numpy", "finite_difference")
    assert _max_diff(stepwise.grads, auto.grads) < 1e-12
    assert _max_diff(stepwise.grads, fd.grads) < 1e-6  # independent of both autodiffs


def test_the_user_arrays_are_not_changed() -> None:
    case = make_network_case(NetworkSpec(cell=TWO_STATE), seq_len=3, seed=1)
    before = {k: v.copy() for k, v in case.arrays.items()}
    network_reference(case, "numpy", "stepwise")
    assert all(np.array_equal(before[k], case.arrays[k]) for k in before)


# -- check_gradients on a user's hand BPTT of minGRU ----------------------------------------
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def min_gru_bptt(bug: str | None = None):
    """A hand-written NumPy BPTT of one min_gru layer (canonical names); ``bug`` seeds a
    slip in the update gate's derivative (σ' taken as σ)."""

    def grads(params, inputs, initial_states, upstream):
        W, b = params["layer0.forward.W"], params["layer0.forward.b"]
        h = initial_states["layer0.forward.h0"]
        n = h.shape[-1]
        zs, hts, prevs = [], [], []
        for x in inputs:
            a = x @ W.T + b
            z, h_tilde = _sigmoid(a[..., :n]), a[..., n:]
            prevs.append(h)
            h = (1 - z) * h + z * h_tilde
            zs.append(z)
            hts.append(h_tilde)
        dW, db, dxs, dh = np.zeros_like(W), np.zeros_like(b), [], np.zeros_like(h)
        for t in reversed(range(len(inputs))):
            dh = dh + upstream[t]
            z = zs[t]
            dz = dh * (hts[t] - prevs[t])
            da = np.concatenate([dz * z if bug == "gate" else dz * z * (1 - z), dh * z], -1)
            dW += da.T @ inputs[t]
            db += da.sum(axis=0)
            dxs.append(da @ W)
            dh = dh * (1 - z)
        return {"layer0.forward.W": dW, "layer0.forward.b": db,
                "layer0.forward.h0": dh, "inputs": np.stack(dxs[::-1])}

    return grads


def test_check_gradients_passes_a_correct_min_gru_bptt() -> None:
    report = ro.check_gradients(min_gru_bptt(), spec=NetworkSpec(cell="min_gru", n_h=4))
    assert report.passed, report


def test_check_gradients_catches_and_localizes_a_gate_bug() -> None:
    report = ro.check_gradients(min_gru_bptt("gate"), spec=NetworkSpec(cell="min_gru", n_h=4))
    assert not report.passed
    by_name = {g.name: g for g in report.gradients}
    for name in ("layer0.forward.W", "layer0.forward.b"):
        g = by_name[name]
        assert g.verdict == "wrong"
        assert g.gate_map is not None and g.gate_map.gates == ("z", "h")
        assert g.gate_map.worst_gate == "z"
        z_error, h_error = g.gate_map.gate_errors
        assert z_error > 1.0 >= h_error  # the h block agrees, the z block does not
