"""One error type: bad input of any kind gives ConventionError, never a raw traceback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import conventions as cv
from conventions import ConventionError

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 30),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.lists(st.integers(-2, 4), max_size=3),
    st.tuples(st.integers(-2, 4), st.integers(-2, 4)),
    arrays,
)
layouts = st.one_of(st.sampled_from(cv.LAYOUTS), junk)
flattens = st.one_of(st.sampled_from([None, "vec", "vecr"]), junk)


def test_convention_error_is_a_value_error() -> None:
    assert issubclass(ConventionError, ValueError)
    with pytest.raises(ValueError, match="layout: expected one of"):
        cv.layout_shape("bogus", out_shape=(), in_shape=())


def _only_convention_errors(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except ConventionError as exc:
        assert str(exc)  # a message, always
    # any other exception propagates and fails the test


@given(J=junk, layout=layouts, o=junk, i=junk, flatten=flattens)
def test_layout_functions_raise_only_convention_errors(
    J: Any, layout: Any, o: Any, i: Any, flatten: Any
) -> None:
    for fn in (cv.to_layout, cv.from_layout):
        _only_convention_errors(fn, J, layout, out_shape=o, in_shape=i, flatten=flatten)
    _only_convention_errors(cv.layout_shape, layout, out_shape=o, in_shape=i, flatten=flatten)


@given(a=junk, b=junk, c=junk)
def test_vec_and_orientation_raise_only_convention_errors(a: Any, b: Any, c: Any) -> None:
    for fn in (cv.vec, cv.vecr, cv.to_column, cv.to_row, cv.column_matrix, cv.row_matrix):
        _only_convention_errors(fn, a)
    _only_convention_errors(cv.unvec, a, b)
    _only_convention_errors(cv.unvecr, a, b)


@given(a=junk, b=junk, x=junk)
def test_operators_raise_only_convention_errors(a: Any, b: Any, x: Any) -> None:
    for build in (
        lambda: cv.Kron(a, b),
        lambda: cv.Dense(a),
        lambda: cv.Diagonal(a),
        lambda: cv.Identity(a),
        lambda: cv.commutation(a, b),
        lambda: cv.Identity(3) * a,
    ):
        try:
            op = build()
        except ConventionError:
            continue
        _only_convention_errors(lambda op=op: op @ x)
        _only_convention_errors(lambda op=op: x @ op)
        _only_convention_errors(lambda op=op: op + x)
        _only_convention_errors(lambda op=op: op.materialize(max_elements=100))


def test_nothing_passed_is_mutated() -> None:
    rng = np.random.default_rng(0)
    J = rng.standard_normal((2, 3, 4))
    A, B, x = rng.standard_normal((2, 3)), rng.standard_normal((4, 2)), rng.standard_normal(6)
    keep = [a.copy() for a in (J, A, B, x)]
    for layout in cv.LAYOUTS:
        try:
            M = cv.to_layout(J, layout, out_shape=(2,), in_shape=(3, 4), flatten=None)
        except ConventionError:
            M = cv.to_layout(J, layout, out_shape=(2,), in_shape=(3, 4), flatten="vec")
            cv.from_layout(M, layout, out_shape=(2,), in_shape=(3, 4), flatten="vec")
    op = cv.Kron(A, B)
    (op.T @ op) @ rng.standard_normal(6)
    cv.Diagonal(x) @ x
    cv.to_column(A)
    cv.unvec(cv.vec(A), (2, 3))
    for a, k in zip((J, A, B, x), keep, strict=True):
        np.testing.assert_array_equal(a, k)
