"""Modules and cells as targets: torch nn.RNN and hand-written autograd Functions, Flax
SimpleCell. Their weights are set from the case on a copy; the user's object is untouched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro

try:
    import torch
except ImportError:  # the Flax tests below run without torch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"batch_first": True}, {"nonlinearity": "relu"}, {"bias": False}],
    ids=["default", "batch_first", "relu", "no_bias"],
)
def test_torch_nn_rnn_passes(kwargs: dict[str, Any], dtype: str) -> None:
    rnn = torch.nn.RNN(3, 5, **kwargs)
    report = ro.check_gradients(rnn, dtype=dtype)
    assert report.passed, str(report)
    assert report.mode == "layer"
    names = {g.name for g in report.gradients}
    assert {"weight_ih_l0", "weight_hh_l0", "inputs", "h0"} <= names
    assert ("bias_ih_l0" in names) == kwargs.get("bias", True)
    assert report.spec.cell == kwargs.get("nonlinearity", "tanh")


@needs_torch
def test_hand_written_autograd_function_passes() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    report = ro.check_gradients(torch_function.make())
    assert report.passed, str(report)


@needs_torch
def test_the_users_module_is_not_mutated() -> None:
    rnn = torch.nn.RNN(3, 5)
    before = {k: v.detach().clone() for k, v in rnn.state_dict().items()}
    ro.check_gradients(rnn, dtype="float64", cases=1)
    for name, value in rnn.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, before[name]), name
        assert rnn.get_parameter(name).grad is None


@needs_torch
def test_module_sizes_are_read_from_it() -> None:
    report = ro.check_gradients(torch.nn.RNN(4, 6), cases=1)
    assert (report.spec.n_x, report.spec.n_h) == (4, 6)
    with pytest.raises(ro.OracleError, match=r"spec.n_h is 5 but RNN has n_h = 6"):
        ro.check_gradients(torch.nn.RNN(4, 6), spec=ro.RNNSpec(n_x=4, n_h=5))


@needs_torch
def test_modules_refuse_what_they_cannot_be() -> None:
    with pytest.raises(ro.OracleError, match="layer mode"):
        ro.check_gradients(torch.nn.RNN(3, 5), mode="model")
    with pytest.raises(ro.OracleError, match="leave convention out"):
        ro.check_gradients(torch.nn.RNN(3, 5), convention="torch")
    # A bidirectional module is not refused: it goes to the network oracle.
    assert ro.check_gradients(torch.nn.RNN(3, 5, bidirectional=True), cases=1).passed
    with pytest.raises(ro.OracleError, match="parameter names"):
        ro.check_gradients(torch.nn.Linear(3, 5))


@needs_torch
def test_module_with_a_wrong_backward_is_diagnosed() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    report = ro.check_gradients(torch_function.make("no_recurrence"))
    assert not report.passed
    assert set(report.causes.values()) == {"local_only"}
    assert report.steps is not None and report.disagreement_starts is not None


def test_flax_simple_cell_passes() -> None:
    pytest.importorskip("jax")
    linen = pytest.importorskip("flax.linen", reason="flax is not installed")
    cell = linen.SimpleCell(features=4)
    for dtype in ("float64", "float32"):
        report = ro.check_gradients(cell, dtype=dtype, cases=1, seq_len=5)
        assert report.passed, str(report)
    assert {g.name for g in report.gradients} == {"i.kernel", "i.bias", "h.kernel", "inputs", "h0"}


def test_flax_cell_activation_is_read_from_it() -> None:
    pytest.importorskip("jax")
    linen = pytest.importorskip("flax.linen", reason="flax is not installed")
    import jax

    cell = linen.SimpleCell(features=3, activation_fn=jax.nn.sigmoid)
    report = ro.check_gradients(cell, cases=1, seq_len=4)
    assert report.passed and report.spec.cell == "sigmoid"


@needs_torch
def test_torch_tensors_returned_by_a_function() -> None:
    from tests.rnn_oracle.oracle.corpus import cs231n

    inner = cs231n.make()

    def as_torch(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
        grads = inner(params, x, h0, upstream)
        return {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in grads.items()}

    assert ro.check_gradients(as_torch, convention="cs231n", mode="layer", cases=1).passed


@pytest.mark.parametrize("name", ["cs224n", "seed000"])
def test_a_preset_and_its_alias_imply_the_same_spec(name: str) -> None:
    """CS224n's RNN language model is a sigmoid RNN; the seed alias must not lose that."""
    from rnn_oracle.oracle.targets import as_target

    target = as_target(lambda params, inputs, targets, h0: None, convention=name, mode="model")
    assert target.resolve_spec(None).cell == "sigmoid"
