"""check_gradients on correct implementations: both protocols, both dtypes, every array
type, the user's data formats, and nothing the user passed is mutated."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.oracle.check import SEQ_LENS
from tests.rnn_oracle.oracle.corpus import cs231n, general, karpathy, seed003


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("make", "convention", "mode"),
    [
        (karpathy.make, "karpathy", "model"),
        (seed003.make, "seed003", "model"),
        (cs231n.make, "cs231n", "layer"),
    ],
    ids=["karpathy", "seed003", "cs231n"],
)
def test_correct_implementations_pass(make: Any, convention: str, mode: str, dtype: str) -> None:
    report = ro.check_gradients(make(), convention=convention, mode=mode, dtype=dtype)
    assert report.passed, str(report)
    assert report.dtype == dtype
    assert [c.seq_len for c in report.cases] == list(SEQ_LENS[:3])
    assert all(g.verdict == "ok" and g.diagnosis is None for g in report.gradients)
    assert (report.loss is None) == (mode == "layer")


def test_karpathy_protocol_gets_index_lists_and_column_state() -> None:
    seen: dict[str, Any] = {}
    inner = karpathy.make()

    def spy(params: Any, inputs: Any, targets: Any, h0: Any) -> Any:
        seen.update(params=params, inputs=inputs, targets=targets, h0=h0)
        return inner(params, inputs, targets, h0)

    spec = ro.RNNSpec(n_x=3, n_h=5, n_y=4, inputs="indices")
    assert ro.check_gradients(spy, convention="karpathy", spec=spec, cases=1, seq_len=6).passed
    assert isinstance(seen["inputs"], list) and len(seen["inputs"]) == 6
    assert all(isinstance(i, int) for i in seen["inputs"] + seen["targets"])
    assert seen["h0"].shape == (5, 1)
    assert {k: v.shape for k, v in seen["params"].items()} == {
        "Wxh": (5, 3), "Whh": (5, 5), "bh": (5, 1), "Why": (4, 5), "by": (4, 1),
    }


def test_layer_protocol_shapes_follow_the_convention() -> None:
    seen: dict[str, Any] = {}
    inner = cs231n.make()

    def spy(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
        seen.update(x=x.shape, h0=h0.shape, up=upstream.shape, Wx=params["Wx"].shape)
        return inner(params, x, h0, upstream)

    report = ro.check_gradients(spy, convention="cs231n", mode="layer", cases=1, seq_len=4)
    assert report.passed
    # cs231n: x (N, T, D), upstream (N, T, H), Wx (D, H).
    assert seen == {"x": (3, 4, 3), "h0": (3, 5), "up": (3, 4, 5), "Wx": (3, 5)}


def test_the_user_mutating_its_arguments_changes_nothing() -> None:
    inner = cs231n.make()
    calls: list[np.ndarray] = []

    def vandal(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
        grads = inner(params, x, h0, upstream)
        calls.append(params["Wx"].copy())
        for value in (*params.values(), x, h0, upstream):
            value *= 0.0  # the oracle's own copies must not be these
        return grads

    report = ro.check_gradients(vandal, convention="cs231n", mode="layer", cases=2)
    assert report.passed, str(report)
    assert np.any(calls[0] != 0)


def test_nothing_the_user_passed_is_mutated() -> None:
    spec = ro.RNNSpec(n_x=3, n_h=4, n_y=3)
    before = repr(spec)
    convention = ro.get_convention("dlbook")
    ro.check_gradients(general.make(spec), convention=convention, spec=spec, cases=1)
    assert repr(spec) == before and convention is ro.get_convention("dlbook")


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_arrays_may_come_back_from_torch_or_jax(framework: str) -> None:
    pytest.importorskip(framework)
    spec = ro.RNNSpec(n_x=3, n_h=4, n_y=3)
    inner = general.make(spec)
    if framework == "torch":
        import torch

        def convert(a: Any) -> Any:
            return torch.from_numpy(np.array(a))
    else:
        import jax.numpy as jnp

        def convert(a: Any) -> Any:
            return jnp.asarray(a)

    def wrapped(params: Any, x: Any, y: Any, h0: Any) -> Any:
        loss, grads = inner(params, x, y, h0)
        return convert(np.float64(loss)), {k: convert(v) for k, v in grads.items()}

    for dtype in ("float64", "float32"):
        report = ro.check_gradients(wrapped, convention="dlbook", spec=spec, cases=1,
                                    dtype=dtype)
        assert report.passed, str(report)


def test_model_mode_checks_optional_h0_and_inputs_gradients() -> None:
    spec = ro.RNNSpec(n_x=3, n_h=4, n_y=3)
    model = general.make(spec)

    def with_data(params: Any, x: Any, y: Any, h0: Any) -> Any:
        loss, grads = model(params, x, y, h0)
        return loss, {**grads, "h0": np.zeros_like(h0)}  # wrong on purpose

    report = ro.check_gradients(with_data, convention="dlbook", spec=spec, cases=1)
    assert not report.passed
    assert report.causes == {"h0": "zero"}


def test_default_batch_by_convention() -> None:
    sizes: list[Any] = []
    inner = cs231n.make()

    def spy(params: Any, x: Any, h0: Any, upstream: Any) -> Any:
        sizes.append(h0.shape)
        return inner(params, x, h0, upstream)

    ro.check_gradients(spy, convention="cs231n", mode="layer", cases=1, batch=5)
    assert sizes == [(5, 5)]
    with pytest.raises(ro.OracleError, match="column vectors"):
        ro.check_gradients(karpathy.make(), convention="karpathy", batch=2)


def test_seed_and_cases_are_reported() -> None:
    report = ro.check_gradients(karpathy.make(), convention="karpathy", cases=2, seed=5)
    assert [c.seed for c in report.cases] == [5, 6]
    assert report.to_dict()["cases"][1]["seed"] == 6
