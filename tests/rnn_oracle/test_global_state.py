"""No oracle call changes a user's global framework state for good.

torch's default dtype and JAX's x64 flag are read before and after every method on
every backend, in float64 and float32, from both initial settings of each flag, and
after a call that fails inside the scoped x64 block.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

import rnn_oracle as ro
from backends import available_backends, get_backend

# The sizes of test_cross_backend.JAX_SHAPES[0], so that JAX compiles them once per session.
SPEC = ro.RNNSpec(cell="tanh", n_x=3, n_h=4, n_y=3, inputs="indices")


def _state() -> dict[str, object]:
    state: dict[str, object] = {}
    if "torch" in available_backends():
        import torch

        state["torch_default_dtype"] = torch.get_default_dtype()
    if "jax" in available_backends():
        import jax

        state["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
    return state


#: Methods with their own code path into a framework. The rest (finite differences, the
#: hand variants) reach torch and JAX only through ``reference``'s precision scope and
#: ``asarray``, which these already exercise; on JAX each extra method costs seconds of
#: compiling.
METHODS = ("bptt", "autodiff", "autodiff_forward")


def _every_call(methods: tuple[str, ...] = METHODS) -> None:
    for dtype in ("float64", "float32"):
        case = ro.make_case(SPEC, 5, 2, seed=1, dtype=dtype)
        for backend in available_backends():
            be = get_backend(backend)
            for method in methods:
                capability = ro.METHODS[method][1]
                if capability is None or capability in be.capabilities:
                    ro.reference(case, backend, method).numpy()


@pytest.fixture
def torch_default_float64() -> Iterator[None]:
    torch = pytest.importorskip("torch")
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@pytest.fixture
def jax_x64_on() -> Iterator[None]:
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def test_framework_defaults_are_untouched() -> None:
    if set(available_backends()) == {"numpy"}:
        pytest.skip("neither torch nor JAX is installed")
    before = _state()
    _every_call()
    assert _state() == before


def test_finite_differences_leave_the_defaults_untouched() -> None:
    if set(available_backends()) == {"numpy"}:
        pytest.skip("neither torch nor JAX is installed")
    before = _state()
    case = ro.make_case(SPEC.replace(n_h=1, n_x=1, n_y=2), 1, None, seed=1)
    for backend in available_backends():
        ro.reference(case, backend, "finite_difference")
    assert _state() == before


def test_nondefault_settings_are_untouched_too(
    torch_default_float64: None, jax_x64_on: None
) -> None:
    before = _state()
    assert before == {"torch_default_dtype": __import__("torch").float64, "jax_enable_x64": True}
    _every_call(("autodiff",))
    assert _state() == before


def test_x64_is_restored_after_an_error_inside_the_scope() -> None:
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    be = get_backend("jax")
    with pytest.raises(ZeroDivisionError), be.precision("float64"):
        assert jax.config.jax_enable_x64
        raise ZeroDivisionError
    assert jax.config.jax_enable_x64 == before


def test_what_the_x64_scope_means_for_arrays() -> None:
    """The behaviour docs/backends.md describes: float64 inside; after the scope the
    buffers are still float64, but new JAX computations on them run in float32."""
    jax = pytest.importorskip("jax")
    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on globally in this session")
    be = get_backend("jax")
    with be.precision("float64"):
        x = be.asarray(np.array([1.0 + 2.0**-40]))
        assert x.dtype == np.float64
        assert float((x - 1.0)[0]) == 2.0**-40  # computed in float64
    assert x.dtype == np.float64
    assert be.to_numpy(x)[0] == 1.0 + 2.0**-40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX warns that it truncates
        y = x - 1.0
    assert y.dtype == np.float32 and float(y[0]) == 0.0


def test_reference_results_convert_after_the_scope() -> None:
    pytest.importorskip("jax")
    case = ro.make_case(SPEC, 3, None, seed=2)
    ref = ro.reference(case, "jax", "bptt")
    expected = ro.reference(case, "numpy", "bptt")
    with warnings.catch_warnings():
        # JAX warns when it truncates float64; the lazily computed per-step stacks are
        # first read here, after the precision scope has closed.
        warnings.simplefilter("error")
        got = ref.numpy()
    for name in case.input_names:
        assert got.grads[name].dtype == np.float64
        assert ro.discrepancy(got.grads[name], expected.grads[name]).error < 1e-13
    for name in SPEC.param_names:
        for stack in ("per_step", "local"):
            mine, exact = getattr(got, stack)[name], getattr(expected, stack)[name]
            assert mine.dtype == np.float64
            assert ro.discrepancy(mine, exact).error < 1e-13, (stack, name)
