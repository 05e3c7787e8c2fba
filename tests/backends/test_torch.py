"""The torch adapter: conversion, dtypes, devices, autodiff hooks, scan and jit.

Derivatives are checked against closed forms worked out by hand, never against the
adapter's own output.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends import BackendError, backend_of, get_backend  # noqa: E402
from backends.registry import DECLARED_CAPABILITIES  # noqa: E402

be = get_backend("torch")


def test_namespace_is_array_api_compat_torch() -> None:
    import array_api_compat.torch as compat

    assert be.xp is compat
    assert be.name == "torch" and be.extra == "torch"
    assert be.capabilities == DECLARED_CAPABILITIES["torch"]


def test_asarray_never_aliases_numpy_memory() -> None:
    original = np.arange(3.0)
    out = be.asarray(original)
    original[0] = 99.0  # a later write by the caller must not reach the tensor
    assert out[0].item() == 0.0
    out[1] = -5.0  # nor a write to the tensor reach the caller's array
    assert original[1] == 1.0
    assert out.dtype == torch.float64


def test_asarray_never_aliases_a_tensor() -> None:
    t = torch.ones(2, requires_grad=True)
    out = be.asarray(t)
    assert out.data_ptr() != t.data_ptr()
    assert not out.requires_grad  # detached from the caller's graph


def test_asarray_casts_and_python_floats_are_float64_whatever_the_default() -> None:
    assert be.asarray(np.arange(3), "float32").dtype == torch.float32
    assert be.asarray([1.5, 2.0]).dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32  # and the default was not touched


def test_asarray_reads_other_frameworks_through_numpy() -> None:
    class Foreign:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.array([1.0, 2.0], dtype=np.float32)

    out = be.asarray(Foreign())
    assert out.dtype == torch.float32 and out.tolist() == [1.0, 2.0]


def test_to_numpy_copies_and_detaches() -> None:
    t = torch.arange(3.0, requires_grad=True) * 2.0
    a = be.to_numpy(t)
    assert isinstance(a, np.ndarray) and a.tolist() == [0.0, 2.0, 4.0]
    a[0] = 7.0
    assert t[0].item() == 0.0


def test_dtype_mapping() -> None:
    expected = {
        "float32": torch.float32,
        "float64": torch.float64,
        "complex64": torch.complex64,
        "complex128": torch.complex128,
        "int64": torch.int64,
        "bool": torch.bool,
    }
    for name, dtype in expected.items():
        assert be.dtype(name) == dtype
    with pytest.raises(BackendError, match=r"dtype: expected one of .*got 'float16'"):
        be.dtype("float16")


def test_device_defaults_to_torchs_default_and_is_accepted() -> None:
    assert be.asarray([1.0]).device == torch.empty(0).device
    assert be.default_device == torch.empty(0).device
    assert be.asarray([1.0], device="cpu").device.type == "cpu"
    with pytest.raises(BackendError, match="device"):
        be.asarray([1.0], device="no-such-device")


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(BackendError, match="asarray: cannot convert"):
        be.asarray([[1.0], [2.0, 3.0]])
    with pytest.raises(BackendError, match="asarray: cannot convert"):
        be.asarray("text")


def test_value_and_grad_of_a_quadratic_form() -> None:
    # f(x, A) = xᵀ A x: ∂f/∂x = (A + Aᵀ) x and ∂f/∂A = x xᵀ (REFERENCES, layout table).
    rng = np.random.default_rng(0)
    x_np, a_np = rng.standard_normal(3), rng.standard_normal((3, 3))
    value, (gx, ga) = be.value_and_grad(
        lambda x, a: x @ a @ x, [be.asarray(x_np), be.asarray(a_np)]
    )
    np.testing.assert_allclose(be.to_numpy(value), x_np @ a_np @ x_np, rtol=1e-14)
    np.testing.assert_allclose(be.to_numpy(gx), (a_np + a_np.T) @ x_np, rtol=1e-13)
    np.testing.assert_allclose(be.to_numpy(ga), np.outer(x_np, x_np), rtol=1e-14)


def test_value_and_grad_of_an_unused_argument_is_zero_and_works_under_no_grad() -> None:
    with torch.no_grad():
        _, (g, unused) = be.value_and_grad(
            lambda x, y: torch.sum(torch.sin(x)), [be.asarray([0.0, 1.0]), be.asarray([2.0])]
        )
    np.testing.assert_allclose(be.to_numpy(g), np.cos([0.0, 1.0]), rtol=1e-15)
    assert be.to_numpy(unused).tolist() == [0.0]


def test_value_and_grad_refuses_non_scalars_and_integers() -> None:
    with pytest.raises(BackendError, match="scalar"):
        be.value_and_grad(lambda x: x * 2.0, [be.asarray([1.0, 2.0])])
    with pytest.raises(BackendError, match="floating-point"):
        be.value_and_grad(lambda x: torch.sum(x), [be.asarray([1, 2])])
    with pytest.raises(BackendError, match="torch tensors"):
        be.value_and_grad(lambda x: x, [np.ones(1)])


def test_jvp_of_an_elementwise_function() -> None:
    # d/dε exp(x + ε v) = exp(x) ∘ v.
    x, v = np.array([0.0, 1.0, -2.0]), np.array([1.0, -3.0, 0.5])
    value, tangent = be.jvp(torch.exp, [be.asarray(x)], [be.asarray(v)])
    np.testing.assert_allclose(be.to_numpy(value), np.exp(x), rtol=1e-15)
    np.testing.assert_allclose(be.to_numpy(tangent), np.exp(x) * v, rtol=1e-15)
    with pytest.raises(BackendError, match="shape"):
        be.jvp(torch.exp, [be.asarray(x)], [be.asarray(v[:2])])
    with pytest.raises(BackendError, match="one to one"):
        be.jvp(torch.exp, [be.asarray(x)], [])


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_of_a_matrix_product_has_index_tensor_shape(mode: str) -> None:
    # f(X) = A X for X (2, 3): J[i, j, k, l] = A[i, k] δ[j, l]; shape out + in.
    a = np.arange(8.0).reshape(4, 2)
    jac = be.to_numpy(be.jacobian(lambda x: be.asarray(a) @ x, be.asarray(np.ones((2, 3))),
                                  mode=mode))
    expected = np.einsum("ik,jl->ijkl", a, np.eye(3))
    assert jac.shape == (4, 3, 2, 3)
    np.testing.assert_array_equal(jac, expected)


def test_jacobian_rejects_an_unknown_mode() -> None:
    with pytest.raises(BackendError, match="mode must be"):
        be.jacobian(torch.exp, be.asarray([1.0]), mode="sideways")


def test_scan_is_a_left_fold_and_jit_is_identity() -> None:
    xs = [be.asarray(v) for v in (2.0, 3.0, 4.0)]
    carry, ys = be.scan(lambda c, x: (c * x, c + x), be.asarray(1.0), xs)
    assert carry.item() == 24.0
    assert [y.item() for y in ys] == [3.0, 5.0, 10.0]

    def f(x: object) -> object:
        return x

    assert be.jit(f) is f


def test_is_native_and_backend_of() -> None:
    t = torch.zeros(1)
    assert be.is_native(t) and not be.is_native(np.zeros(1))
    assert backend_of(t) is be


def test_forward_mode_keeps_float32() -> None:
    # torch.func.jvp alone returns a float64 tangent for ``0.5 * x.sum()`` with float32 x.
    x = be.asarray(np.ones((2, 3)), "float32")
    value, tangent = be.jvp(lambda t: 0.5 * torch.sum(t), [x], [torch.ones_like(x)])
    assert value.dtype == tangent.dtype == torch.float32 and tangent.item() == 3.0
    jac = be.jacobian(lambda t: 0.5 * torch.sum(t), x, mode="forward")
    assert jac.dtype == torch.float32 and be.to_numpy(jac).tolist() == [[0.5] * 3] * 2


def test_vmap_maps_over_axis_0_and_keeps_float32() -> None:
    rows = torch.arange(6.0, dtype=torch.float32).reshape(3, 2)
    out = be.vmap(lambda row: 0.5 * torch.sum(row * row))(rows)
    assert out.dtype == torch.float32 and out.tolist() == [0.5, 6.5, 20.5]
