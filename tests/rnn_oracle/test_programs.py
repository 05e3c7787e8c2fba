"""JAX references run as compiled programs: one per method and spec, compiled once per
shape and reused, their loops ``lax.scan`` (the trace does not grow with T)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rnn_oracle as ro
from backends import available_backends, get_backend
from rnn_oracle.derivations import _programs, autodiff, bptt
from rnn_oracle.derivations.base import to_backend
from rnn_oracle.model import rounded_nonlinearities

pytestmark = pytest.mark.skipif("jax" not in available_backends(), reason="no jax")

SPEC = ro.RNNSpec(cell="tanh", n_x=3, n_h=4, n_y=3)
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
BUILDERS = {"bptt": bptt._sweep, "autodiff": autodiff._reverse_program}


@pytest.fixture
def compiles() -> Iterator[list[str]]:
    """The XLA compilations that happen while the test runs."""
    import jax.monitoring

    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == COMPILE_EVENT:
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.mark.parametrize("method", ["bptt", "autodiff"])
def test_a_second_call_reuses_the_compiled_program(method: str, compiles: list[str]) -> None:
    case = ro.make_case(SPEC, 7, batch=2, seed=0)
    first = ro.reference(case, "jax", method).numpy()
    assert compiles, "the first call compiles"
    compiles.clear()
    other = ro.reference(ro.make_case(SPEC, 7, batch=2, seed=1), "jax", method).numpy()
    assert compiles == [], "same spec and shapes: nothing compiles again"
    again = ro.reference(case, "jax", method).numpy()
    for name in case.input_names:
        np.testing.assert_array_equal(again.grads[name], first.grads[name])
        assert not np.array_equal(other.grads[name], first.grads[name])


@pytest.mark.parametrize("method", ["bptt", "autodiff"])
def test_the_program_is_a_scan_whatever_the_length(method: str) -> None:
    import jax

    be = get_backend("jax")
    sizes = []
    for seq_len in (2, 9):
        case = ro.make_case(SPEC, seq_len, batch=2, seed=0)
        with be.precision(case.dtype):
            on = to_backend(case, be)
            run = _programs.program(be, (method, SPEC), lambda: BUILDERS[method](SPEC, be))
            jaxpr = jax.make_jaxpr(run)(on.arrays, on.index_inputs, on.targets, on.upstream)
        text = str(jaxpr)
        assert "scan" in text
        sizes.append(len(text.splitlines()))
    assert sizes[0] == sizes[1]


def test_programs_are_keyed_by_spec_and_not_compiled_under_the_rounding_hook() -> None:
    be = get_backend("jax")
    built: list[int] = []

    def build() -> Any:
        built.append(1)
        return lambda x: x

    first = _programs.program(be, ("test", SPEC), build)
    assert _programs.program(be, ("test", SPEC), build) is first and len(built) == 1
    other = _programs.program(be, ("test", ro.RNNSpec(cell="relu")), build)
    assert other is not first and len(built) == 2
    with rounded_nonlinearities(lambda out: out):
        assert _programs.program(be, ("test", SPEC), build) is not first
    assert len(built) == 3
    assert _programs.program(get_backend("numpy"), ("test", SPEC), build)(5) == 5
