"""The autodiff methods: what they return, where they run, and how a missing framework
shows. Agreement with the other methods is tested in test_cross_backend.py."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import rnn_oracle as ro
from backends import BackendError, available_backends, get_backend, registry
from rnn_oracle._verify import verify

FRAMEWORKS = [b for b in ("torch", "jax") if b in available_backends()]


def test_autodiff_methods_are_registered_with_their_capability() -> None:
    assert ro.METHODS["autodiff"][1] == "reverse"
    assert ro.METHODS["autodiff_forward"][1] == "forward"


@pytest.mark.parametrize("method", ["autodiff", "autodiff_forward"])
def test_numpy_has_no_autodiff(method: str) -> None:
    case = ro.make_case(ro.RNNSpec(), 2)
    with pytest.raises(ro.OracleError, match=rf"{method}.*lacks.*have it:"):
        ro.reference(case, "numpy", method)


@pytest.mark.parametrize("backend", FRAMEWORKS)
@pytest.mark.parametrize("method", ["autodiff", "autodiff_forward"])
@pytest.mark.parametrize("inputs", ["dense", "indices"])
def test_result_is_native_and_keyed_like_the_case(backend: str, method: str, inputs: str) -> None:
    spec = ro.RNNSpec(n_x=3, n_h=4, n_y=3, inputs=inputs)  # type: ignore[arg-type]
    case = ro.make_case(spec, 5, 2, seed=4)
    ref = ro.reference(case, backend, method)
    be = get_backend(backend)
    assert (ref.method, ref.backend, ref.dtype) == (method, backend, "float64")
    # Index inputs are not differentiable: no "inputs" gradient then.
    assert tuple(ref.grads) == case.input_names
    assert ("inputs" in ref.grads) == (inputs == "dense")
    assert all(be.is_native(g) for g in ref.grads.values()) and be.is_native(ref.loss)
    as_numpy = ref.numpy()
    bptt = ro.reference(case, "numpy", "bptt")
    assert float(as_numpy.loss) == pytest.approx(float(bptt.loss), rel=1e-13)
    for name, value in as_numpy.grads.items():
        assert isinstance(value, np.ndarray) and value.shape == case.arrays()[name].shape
        assert ro.discrepancy(value, bptt.grads[name]).error < 1e-12, name


@pytest.mark.parametrize("backend", FRAMEWORKS)
def test_float32_cases_stay_float32(backend: str) -> None:
    # JAX_SHAPES[0] of test_cross_backend: compiled once per session.
    case = ro.make_case(ro.RNNSpec(n_x=3, n_h=4, n_y=3), 5, 2, seed=1, dtype="float32")
    for method in ("autodiff", "autodiff_forward"):
        ref = ro.reference(case, backend, method).numpy()
        assert ref.loss.dtype == np.float32
        assert {g.dtype for g in ref.grads.values()} == {np.dtype(np.float32)}, method


def test_missing_backend_is_skipped_in_verify_with_its_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verify_module = importlib.import_module("rnn_oracle._verify")
    monkeypatch.setattr(verify_module, "available_backends", lambda: ("numpy",))
    report = verify(
        [ro.RNNSpec(n_x=2, n_h=2, n_y=2)],
        seq_len=2,
        methods=["bptt", "autodiff"],
        backends=["numpy", "torch", "jax"],
    )
    status = {(r.method, r.backend): r.status for r in report.rows}
    assert status[("bptt", "numpy")] == "ran"
    for name in ("torch", "jax"):
        assert status[("autodiff", name)] == (
            f"skipped: not installed (pip install 'rnn-oracle[{name}]')"
        )
    # Never runs there, whether or not anything is installed.
    assert status.get(("autodiff", "numpy"), "n/a") != "ran"
    # torch and jax were asked for and did not run: that is no pass (exit 3).
    assert not report.passed and report.verdict == "inconclusive"
    table = report.format_table()
    matrix, _, below = table.partition("\n\n")
    for name in ("torch", "jax"):  # the hint under the table, not in every cell
        assert "pip install" not in matrix
        assert f"{name}: skipped: not installed (pip install 'rnn-oracle[{name}]')" in below


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_asking_for_a_missing_backend_names_the_extra(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, cls, _ = registry._ADAPTERS[name]
    monkeypatch.setitem(registry._ADAPTERS, name, (adapter, cls, f"no_such_{name}_module"))
    monkeypatch.setattr(registry, "_cache", {})
    assert name not in available_backends()
    with pytest.raises(BackendError, match=rf"not installed.*rnn-oracle\[{name}\]"):
        get_backend(name)
    case = ro.make_case(ro.RNNSpec(), 2)
    with pytest.raises(ro.OracleError, match=rf"rnn-oracle\[{name}\]"):
        ro.reference(case, name, "bptt")
