"""One-layer modules and cells as targets: torch nn.RNN and hand-written autograd Functions,
Flax SimpleCell — the smallest layer stacks, checked as every module and cell is
(test_network_check.py has the rest) — and torch tensors returned by a function."""

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
    # torch's h0 is (layers × directions, B, n_h): one layer, one direction, one slice.
    assert {"weight_ih_l0", "weight_hh_l0", "inputs", "h0[0]"} <= names
    assert ("bias_ih_l0" in names) == kwargs.get("bias", True)
    assert report.spec.cell == kwargs.get("nonlinearity", "tanh")
    assert report["weight_hh_l0"].mapping == "layer0.forward.W_hh"


@needs_torch
def test_hand_written_autograd_function_passes() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    report = ro.check_gradients(torch_function.make())
    assert report.passed, str(report)


@needs_torch
def test_a_module_without_a_nonlinearity_takes_the_specs_cell() -> None:
    """A module with nn.RNN's names but no ``nonlinearity`` has no cell until a spec gives
    one (no default is assumed). This module computes tanh: as a sigmoid it is wrong."""
    from tests.rnn_oracle.oracle.corpus import torch_function

    module = torch_function.make()
    del module.nonlinearity
    with pytest.raises(ro.OracleError, match=r"HandRNN\.nonlinearity: the module has no"):
        ro.check_gradients(module)
    tanh = ro.NetworkSpec("many_to_many", cell="tanh", n_x=3, n_h=5, n_y=1, head="none")
    assert ro.check_gradients(module, spec=tanh, cases=1).passed
    spec = tanh.replace(cell="sigmoid")
    report = ro.check_gradients(module, spec=spec, cases=1)
    assert report.spec.cell == "sigmoid" and not report.passed
    relu = torch.nn.RNN(3, 5, nonlinearity="relu")  # states its cell: the spec must agree
    with pytest.raises(ro.OracleError, match=r"spec\.cell is 'sigmoid' but RNN has cell = 'relu'"):
        ro.check_gradients(relu, spec=spec)


@needs_torch
def test_a_module_without_batch_first_is_asked_for_its_axis_order() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    module = torch_function.make()
    del module.batch_first
    with pytest.raises(ro.OracleError, match=r"HandRNN\.batch_first: the module has no"):
        ro.check_gradients(module)


@needs_torch
def test_a_module_with_other_parameters_is_refused() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    module = torch_function.make()
    module.register_parameter("scale", torch.nn.Parameter(torch.ones(1)))
    with pytest.raises(ro.OracleError, match=r"HandRNN: parameter names .*unexpected \['scale'\]"):
        ro.check_gradients(module)
    short = torch_function.make()
    short.weight_ih_l0 = torch.nn.Parameter(torch.zeros(4, 3))
    with pytest.raises(ro.OracleError, match=r"HandRNN.weight_ih_l0: expected shape \(5, 3\)"):
        ro.check_gradients(short)


@needs_torch
def test_module_with_a_wrong_backward_is_diagnosed() -> None:
    from tests.rnn_oracle.oracle.corpus import torch_function

    report = ro.check_gradients(torch_function.make("no_recurrence"))
    assert not report.passed
    assert set(report.causes.values()) == {"local_only"}
    assert report.steps is not None and report.disagreement_starts is not None


def test_flax_cell_activation_is_read_from_it() -> None:
    pytest.importorskip("jax")
    linen = pytest.importorskip("flax.linen", reason="flax is not installed")
    import jax

    cell = linen.SimpleCell(features=3, activation_fn=jax.nn.sigmoid)
    report = ro.check_gradients(cell, cases=1, seq_len=4)
    assert report.passed and report.spec.cell == "sigmoid"
    assert {g.name for g in report.gradients} == {"i.kernel", "i.bias", "h.kernel", "inputs", "h0"}
    assert report["h.kernel"].mapping == "layer0.forward.W_hh.T"
    with pytest.raises(ro.OracleError, match=r"SimpleCell.activation_fn: expected tanh, sigmoid "
                                             r"or relu .*got gelu"):
        ro.check_gradients(linen.SimpleCell(features=3, activation_fn=jax.nn.gelu))
    with pytest.raises(ro.OracleError, match=r"SimpleCell.residual: expected False"):
        ro.check_gradients(linen.SimpleCell(features=3, residual=True))


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
