"""The NumPy adapter."""

from __future__ import annotations

import numpy as np
import pytest

from backends import BackendError, get_backend

be = get_backend("numpy")


def test_asarray_copies_and_casts() -> None:
    original = np.arange(3.0)
    out = be.asarray(original, "float32")
    out[0] = 99.0
    assert original[0] == 0.0
    assert out.dtype == np.float32


def test_to_numpy_copies() -> None:
    a = np.ones(2)
    b = be.to_numpy(a)
    b[0] = 5.0
    assert a[0] == 1.0


def test_dtype_names_are_validated() -> None:
    assert be.dtype("float64") == np.float64
    with pytest.raises(BackendError, match=r"dtype: expected one of .*got 'float16'"):
        be.dtype("float16")


def test_device_other_than_cpu_is_refused() -> None:
    with pytest.raises(BackendError, match="device"):
        be.asarray([1.0], device="cuda:0")


def test_unconvertible_value_is_a_typed_error() -> None:
    with pytest.raises(BackendError, match="asarray: cannot convert"):
        be.asarray([[1.0], [2.0, 3.0]])


def test_autodiff_is_declared_absent() -> None:
    assert "reverse" not in be.capabilities
    with pytest.raises(BackendError, match=r"no 'reverse' capability"):
        be.value_and_grad(lambda x: x, [np.ones(1)])
    with pytest.raises(BackendError, match=r"no 'forward' capability"):
        be.jvp(lambda x: x, [np.ones(1)], [np.ones(1)])
    with pytest.raises(BackendError, match=r"no 'jacobian' capability"):
        be.jacobian(lambda x: x, np.ones(1))


def test_scan_is_a_left_fold() -> None:
    carry, ys = be.scan(lambda c, x: (c + x, c * x), 1.0, [2.0, 3.0])
    assert carry == 6.0
    assert ys == [2.0, 9.0]


def test_is_native() -> None:
    assert be.is_native(np.zeros(1))
    assert not be.is_native([0.0])


def test_vmap_stacks_the_rows_results() -> None:
    rows = np.arange(6.0).reshape(3, 2)
    out = be.vmap(lambda row: np.sum(row * row))(rows)
    assert out.tolist() == [1.0, 13.0, 41.0]
