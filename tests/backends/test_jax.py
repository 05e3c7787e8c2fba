"""The JAX adapter: conversion, dtypes, devices, x64 scoping, autodiff hooks, scan and jit.

Derivatives are checked against closed forms worked out by hand, never against the
adapter's own output. Every float64 test runs inside ``be.precision("float64")``, which
is itself under test here and in ``tests/rnn_oracle/test_global_state.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from backends import BackendError, backend_of, get_backend  # noqa: E402
from backends.registry import DECLARED_CAPABILITIES  # noqa: E402

be = get_backend("jax")


def test_namespace_is_jax_numpy() -> None:
    assert be.xp is jnp
    assert be.name == "jax" and be.extra == "jax"
    assert be.capabilities == DECLARED_CAPABILITIES["jax"]


def test_asarray_never_aliases_numpy_memory() -> None:
    original = np.arange(3.0)
    with be.precision("float64"):
        out = be.asarray(original)
    original[0] = 99.0  # jnp.asarray may share a NumPy buffer on CPU; ours must not
    assert float(out[0]) == 0.0
    assert out.dtype == jnp.float64


def test_asarray_casts() -> None:
    out = be.asarray(np.arange(3), "float32")
    assert out.dtype == jnp.float32 and out.tolist() == [0.0, 1.0, 2.0]
    with be.precision("float64"):
        assert be.asarray(np.float32(1.5), "float64").dtype == jnp.float64


def test_float64_outside_x64_is_refused_not_truncated() -> None:
    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on globally in this session")
    with pytest.raises(BackendError, match=r"float64 needs JAX's x64 mode.*precision"):
        be.asarray(np.ones(2))
    with pytest.raises(BackendError, match="x64"):
        be.asarray([1.0], "float64")
    # Python floats have no dtype of their own: JAX's default width applies.
    assert be.asarray([1.0]).dtype == jnp.float32
    with be.precision("float64"):
        assert be.asarray([1.0]).dtype == jnp.float64


def test_to_numpy_copies() -> None:
    a = be.to_numpy(jnp.arange(3.0))
    assert isinstance(a, np.ndarray) and a.flags.writeable
    a[0] = 7.0
    assert a.tolist() == [7.0, 1.0, 2.0]


def test_to_numpy_keeps_float64_after_the_scope() -> None:
    with be.precision("float64"):
        x = be.asarray(np.array([1.0 + 2.0**-40]))
    # Converting after the scope ends loses nothing: the buffer is float64.
    assert be.to_numpy(x)[0] == 1.0 + 2.0**-40


def test_dtype_mapping() -> None:
    assert be.dtype("float32") == jnp.float32
    assert be.dtype("float64") == jnp.float64
    assert be.dtype("complex128") == jnp.complex128
    assert be.dtype("bool") == jnp.bool_
    with pytest.raises(BackendError, match=r"dtype: expected one of .*got 'bfloat16'"):
        be.dtype("bfloat16")


def test_device_defaults_to_jaxs_default_and_is_accepted() -> None:
    default = jax.devices()[0]
    assert be.asarray([1.0]).device == default
    assert be.default_device == default
    assert be.asarray([1.0], device=default).device == default
    assert be.asarray([1.0], device=default.platform).device == default
    with pytest.raises(BackendError, match="device"):
        be.asarray([1.0], device="no-such-platform")


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(BackendError, match="asarray: cannot convert"):
        be.asarray([[1.0], [2.0, 3.0]])
    with pytest.raises(BackendError, match="asarray: cannot convert"):
        be.asarray(np.array(["text"]))
    with pytest.raises(BackendError, match="precision: expected one of"), be.precision("float16"):
        pass


def test_value_and_grad_of_a_quadratic_form() -> None:
    # f(x, A) = xᵀ A x: ∂f/∂x = (A + Aᵀ) x and ∂f/∂A = x xᵀ (REFERENCES, layout table).
    rng = np.random.default_rng(0)
    x_np, a_np = rng.standard_normal(3), rng.standard_normal((3, 3))
    with be.precision("float64"):
        value, (gx, ga) = be.value_and_grad(
            lambda x, a: x @ a @ x, [be.asarray(x_np), be.asarray(a_np)]
        )
        np.testing.assert_allclose(be.to_numpy(value), x_np @ a_np @ x_np, rtol=1e-14)
        np.testing.assert_allclose(be.to_numpy(gx), (a_np + a_np.T) @ x_np, rtol=1e-13)
        np.testing.assert_allclose(be.to_numpy(ga), np.outer(x_np, x_np), rtol=1e-14)


def test_value_and_grad_refuses_non_scalars_and_integers() -> None:
    with pytest.raises(BackendError, match="scalar"):
        be.value_and_grad(lambda x: x * 2.0, [be.asarray([1.0, 2.0])])
    with pytest.raises(BackendError, match="floating-point"):
        be.value_and_grad(jnp.sum, [be.asarray(np.array([1, 2], dtype=np.int32))])
    with pytest.raises(BackendError, match="JAX arrays"):
        be.value_and_grad(jnp.sum, [np.ones(1)])


def test_jvp_of_an_elementwise_function() -> None:
    # d/dε exp(x + ε v) = exp(x) ∘ v.
    x, v = np.array([0.0, 1.0, -2.0]), np.array([1.0, -3.0, 0.5])
    with be.precision("float64"):
        value, tangent = be.jvp(jnp.exp, [be.asarray(x)], [be.asarray(v)])
        np.testing.assert_allclose(be.to_numpy(value), np.exp(x), rtol=1e-15)
        np.testing.assert_allclose(be.to_numpy(tangent), np.exp(x) * v, rtol=1e-15)
        with pytest.raises(BackendError, match="shape"):
            be.jvp(jnp.exp, [be.asarray(x)], [be.asarray(v[:2])])


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_of_a_matrix_product_has_index_tensor_shape(mode: str) -> None:
    # f(X) = A X for X (2, 3): J[i, j, k, l] = A[i, k] δ[j, l]; shape out + in.
    a = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    jac = be.to_numpy(
        be.jacobian(lambda x: be.asarray(a) @ x, be.asarray(np.ones((2, 3)), "float32"),
                    mode=mode)
    )
    assert jac.shape == (4, 3, 2, 3)
    np.testing.assert_array_equal(jac, np.einsum("ik,jl->ijkl", a, np.eye(3)))


def test_scan_is_a_left_fold_over_lists_and_stacked_arrays() -> None:
    def step(c: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return c * x, c + x

    init = jnp.float32(1.0)
    for xs in ([jnp.float32(v) for v in (2.0, 3.0, 4.0)], jnp.array([2.0, 3.0, 4.0])):
        carry, ys = be.scan(step, init, xs)
        assert float(carry) == 24.0
        assert [float(y) for y in ys] == [3.0, 5.0, 10.0]
    carry, ys = be.scan(step, init, [])
    assert float(carry) == 1.0 and ys == []


def test_jit_compiles_and_agrees() -> None:
    calls = []

    def f(x: jax.Array) -> jax.Array:
        calls.append(1)  # runs once per trace, not per call, when compiled
        return jnp.sin(x) * 2.0

    g = be.jit(f)
    x = jnp.arange(3.0)
    assert g(x).tolist() == (jnp.sin(x) * 2.0).tolist()
    g(x + 1.0)
    assert len(calls) == 1


def test_is_native_and_backend_of() -> None:
    x = jnp.zeros(1)
    assert be.is_native(x) and not be.is_native(np.zeros(1))
    assert backend_of(x) is be


def test_asarray_of_numpy_data_in_its_own_dtype_compiles_nothing() -> None:
    """A transfer, not a conversion: jnp.array would compile a convert per new shape."""
    from jax._src import dispatch, monitoring

    compiles = []

    def listener(event: str, duration: float, **kwargs: object) -> None:
        if event == dispatch.BACKEND_COMPILE_EVENT:
            compiles.append(event)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        with be.precision("float64"):
            wide = be.asarray(np.full((3, 7, 2), 0.5), "float64")
        narrow = be.asarray(np.full((5, 11), 0.5, dtype=np.float32))
        indices = be.asarray(np.arange(13))  # int64 data outside x64: int32, as jnp.array
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert wide.dtype == jnp.float64 and narrow.dtype == jnp.float32
    assert indices.dtype == jnp.int32 and indices.tolist() == list(range(13))
    assert not wide.weak_type and float(wide[2, 6, 1]) == 0.5


def test_vmap_maps_over_axis_0() -> None:
    rows = jnp.arange(6.0).reshape(3, 2)
    out = be.vmap(lambda row: jnp.sum(row * row))(rows)
    assert out.tolist() == [1.0, 13.0, 41.0]


@pytest.mark.parametrize("cell, initial_state", [("sigmoid", "zero"), ("tanh", "given")])
def test_jit_compiles_what_eager_computes(cell: str, initial_state: str) -> None:
    """be.jit's compile options change how fast XLA compiles, never the numbers: at -O0
    jaxlib 0.10.2 gave NaN gradients for these one-unit softmax networks."""
    import rnn_oracle as ro
    from rnn_oracle.derivations.base import to_backend
    from rnn_oracle.model import loss_function

    spec = ro.RNNSpec(cell=cell, n_x=2, n_h=1, n_y=2, initial_state=initial_state)
    for seq_len, batch in ((1, None), (2, 2)):
        case = ro.make_case(spec, seq_len, batch, seed=0)
        with be.precision("float64"):
            on = to_backend(case, be)
            loss = loss_function(spec, be.xp, inputs=on.index_inputs, targets=on.targets,
                                 upstream=on.upstream)
            eager = jax.grad(loss)(on.arrays)
            compiled = be.jit(jax.grad(loss))(on.arrays)
        for name, g in eager.items():
            np.testing.assert_allclose(np.asarray(compiled[name]), np.asarray(g), rtol=1e-12,
                                       atol=1e-15)
