"""The compiled-program cache of the derivations on JAX (``rnn_oracle.derivations._compiled``).

A program is traced and compiled once per structure and reused for every case of that
structure: a second seed compiles nothing, and still gets its own numbers (those of an
eager run of the same derivation); another dtype is another program. Checks that depend
on module state run on every call, cached program or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from backends import get_backend  # noqa: E402
from rnn_oracle import OracleError, RNNSpec, make_case, reference  # noqa: E402
from rnn_oracle.architectures import NetworkSpec, make_network_case, network_reference  # noqa: E402
from rnn_oracle.derivations import METHODS, _compiled, rtrl  # noqa: E402

be = get_backend("jax")

#: The single-layer methods that run as one compiled program on JAX.
COMPILED = ("bptt", "jacobian_chain", "kronecker", "differential", "einsum", "rtrl",
            "autodiff", "autodiff_forward")


@pytest.fixture
def compiles() -> Iterator[Callable[[], int]]:
    """How many XLA compiles JAX has run since the fixture started (a fresh cache)."""
    from jax._src import dispatch, monitoring

    count = [0]

    def listener(event: str, duration: float, **kwargs: Any) -> None:
        if event == dispatch.BACKEND_COMPILE_EVENT:
            count[0] += 1

    _compiled.clear_programs()
    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield lambda: count[0]
    finally:
        monitoring.unregister_event_duration_listener(listener)


def _eager(method: str) -> Callable[..., Any]:
    """The undecorated derivation of ``method``: the same code, run op by op."""
    import importlib

    module_name, _, function = METHODS[method][0].partition(":")
    module = importlib.import_module(f"rnn_oracle.derivations.{module_name}")
    decorated = getattr(module, function or "gradients")
    return decorated.__wrapped__  # type: ignore[no-any-return]


def _numpy(ref: Any) -> dict[str, np.ndarray]:
    out = ref.numpy()
    return {"loss": np.asarray(out.loss), **{n: np.asarray(g) for n, g in out.grads.items()}}


@pytest.mark.parametrize("method", COMPILED)
def test_a_second_seed_compiles_nothing_and_gets_its_own_numbers(
    method: str, compiles: Callable[[], int]
) -> None:
    spec = RNNSpec(cell="tanh", n_x=2, n_h=3, n_y=2)
    first, second = (make_case(spec, 3, batch=2, seed=s) for s in (0, 1))
    reference(first, "jax", method)
    after_first = compiles()
    assert after_first >= 1
    got = _numpy(reference(second, "jax", method))
    assert compiles() == after_first, "a case of the same structure compiled again"
    with be.precision("float64"):
        want = _numpy(_eager(method)(second, be))
    assert set(got) == set(want)
    for name in want:  # the second seed's numbers, not the first's
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14)


def test_float32_and_float64_get_different_programs(compiles: Callable[[], int]) -> None:
    spec = RNNSpec(cell="sigmoid", n_x=2, n_h=3, n_y=2)
    wide = reference(make_case(spec, 3, batch=2, seed=0, dtype="float64"), "jax", "bptt")
    after_wide = compiles()
    narrow = reference(make_case(spec, 3, batch=2, seed=0, dtype="float32"), "jax", "bptt")
    assert compiles() > after_wide, "the float32 case reused the float64 program"
    assert narrow.grads["W_hh"].dtype == np.float32
    assert wide.numpy().grads["W_hh"].dtype == np.float64
    keys = [k for k in _compiled._PROGRAMS if k[2] == spec]
    assert len(keys) == 2


def test_the_rtrl_budget_is_checked_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    case = make_case(RNNSpec(n_x=2, n_h=3, n_y=2), 3, batch=2, seed=0)
    reference(case, "jax", "rtrl")  # the program is now cached
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", rtrl.memory_estimate(case) - 1)
    with pytest.raises(OracleError, match="rtrl: the forward sensitivities"):
        reference(case, "jax", "rtrl")


def test_finite_differences_compile_once_per_structure(compiles: Callable[[], int]) -> None:
    spec = RNNSpec(cell="relu", n_x=2, n_h=2, n_y=2, head="linear_mse")
    first, second = (make_case(spec, 2, batch=2, seed=s) for s in (0, 1))
    reference(first, "jax", "finite_difference")
    after_first = compiles()
    jax_fd = reference(second, "jax", "finite_difference").numpy()
    assert compiles() == after_first
    numpy_fd = reference(second, "numpy", "finite_difference")
    for name, g in numpy_fd.grads.items():  # the same differences, to rounding
        bound = 4 * (np.asarray(jax_fd.error[name]) + np.asarray(numpy_fd.error[name]))
        assert np.all(np.abs(np.asarray(jax_fd.grads[name]) - g) <= bound)


def test_network_programs_are_reused_across_seeds(compiles: Callable[[], int]) -> None:
    spec = NetworkSpec("stacked", "tanh", n_x=2, n_h=2, n_y=2)
    first, second = (make_network_case(spec, 2, 2, seed=s) for s in (0, 1))
    methods = ("bptt", "layerwise", "autodiff", "autodiff_forward", "finite_difference")
    for method in methods:
        network_reference(first, "jax", method)
    after_first = compiles()
    cs = network_reference(second, "numpy", "complex_step")
    for method in methods:
        got = network_reference(second, "jax", method).numpy()
        for name, g in cs.grads.items():  # the second seed's gradients
            np.testing.assert_allclose(got.grads[name], g, rtol=1e-6, atol=1e-9)
    assert compiles() == after_first


def test_rounded_nonlinearities_are_never_compiled(compiles: Callable[[], int]) -> None:
    """The rounding is not in a program's key: under it every run is eager (and sees it)."""
    from rnn_oracle.model import rounded_nonlinearities

    case = make_case(RNNSpec(cell="tanh", n_x=2, n_h=3, n_y=2), 3, batch=2, seed=0)
    plain = _numpy(reference(case, "jax", "bptt"))  # now cached
    with rounded_nonlinearities(lambda out: out * (1.0 + 1e-3)):
        rounded = _numpy(reference(case, "jax", "bptt"))
        with be.precision("float64"):
            eager = _numpy(_eager("bptt")(case, be))
    np.testing.assert_allclose(rounded["W_hh"], eager["W_hh"], rtol=1e-12)
    assert not np.allclose(rounded["W_hh"], plain["W_hh"], rtol=1e-6)
    assert _numpy(reference(case, "jax", "bptt"))["W_hh"].tolist() == plain["W_hh"].tolist()


def test_methods_computed_together_are_one_program_and_the_same_answers(
    compiles: Callable[[], int],
) -> None:
    from rnn_oracle._reference import computed_together

    spec = RNNSpec(cell="sigmoid", n_x=2, n_h=3, n_y=2, inputs="one_hot")
    first, second = (make_case(spec, 3, batch=2, seed=s) for s in (0, 1))
    alone = {m: _numpy(reference(second, "jax", m)) for m in COMPILED}
    _compiled.clear_programs()
    before = compiles()
    with computed_together(first, "jax", COMPILED):
        for method in COMPILED:
            reference(first, "jax", method)
    assert compiles() - before == 1, "the methods did not share one program"
    with computed_together(second, "jax", COMPILED):
        shared = {m: _numpy(reference(second, "jax", m)) for m in COMPILED}
    assert compiles() - before == 1, "a second seed compiled again"
    for method in COMPILED:
        for name, want in alone[method].items():
            np.testing.assert_allclose(shared[method][name], want, rtol=1e-12, atol=1e-14)


def test_a_part_that_fails_in_the_shared_trace_runs_alone_and_raises_there() -> None:
    from rnn_oracle.derivations.base import to_backend

    case = make_case(RNNSpec(n_x=2, n_h=2, n_y=2), 2, batch=2, seed=0)

    def good(c: Any, b: Any) -> tuple[Any, None]:
        return to_backend(c, b).arrays["W_hh"] * 2.0, None

    def bad(c: Any, b: Any) -> tuple[Any, None]:
        raise OracleError("bad part")

    parts = [_compiled.Part("good", good, to_backend), _compiled.Part("bad", bad, to_backend)]
    with be.precision("float64"), _compiled.together(case, be, parts):
        doubled, _ = _compiled.run_compiled("good", good, to_backend, case, be)
        np.testing.assert_array_equal(np.asarray(doubled), 2.0 * case.params["W_hh"])
        with pytest.raises(OracleError, match="bad part"):
            _compiled.run_compiled("bad", bad, to_backend, case, be)


def test_the_rtrl_budget_is_checked_when_computed_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rnn_oracle._reference import computed_together

    case = make_case(RNNSpec(n_x=2, n_h=3, n_y=2), 3, batch=2, seed=0)
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", rtrl.memory_estimate(case) - 1)
    with computed_together(case, "jax", ["bptt", "rtrl"]):
        reference(case, "jax", "bptt")
        with pytest.raises(OracleError, match="rtrl: the forward sensitivities"):
            reference(case, "jax", "rtrl")


def test_network_methods_computed_together_give_the_same_answers(
    compiles: Callable[[], int],
) -> None:
    from rnn_oracle.architectures.reference import network_computed_together

    spec = NetworkSpec("bidirectional", "tanh", n_x=2, n_h=2, n_y=2)
    case = make_network_case(spec, 2, 2, seed=3)
    methods = ("bptt", "layerwise", "kronecker", "autodiff", "autodiff_forward")
    alone = {m: network_reference(case, "jax", m).numpy() for m in methods}
    _compiled.clear_programs()
    before = compiles()
    with network_computed_together(case, "jax", methods):
        shared = {m: network_reference(case, "jax", m).numpy() for m in methods}
    network_programs = compiles() - before
    for method in methods:
        for name, want in alone[method].grads.items():
            np.testing.assert_allclose(shared[method].grads[name], want, rtol=1e-12,
                                       atol=1e-14)
    # one shared program for the network, and one for its blocks (both variants at once:
    # the two blocks have one structure)
    assert network_programs == 1 + 1


def test_finite_differences_under_rounded_nonlinearities_see_the_rounding() -> None:
    from rnn_oracle.model import rounded_nonlinearities

    case = make_case(RNNSpec(cell="tanh", n_x=2, n_h=2, n_y=2), 2, batch=2, seed=1)
    plain = float(reference(case, "jax", "finite_difference").numpy().loss)  # now cached
    with rounded_nonlinearities(lambda out: out * (1.0 + 1e-3)):
        on_jax = float(reference(case, "jax", "finite_difference").numpy().loss)
        on_numpy = float(reference(case, "numpy", "finite_difference").loss)
    assert on_jax != plain
    assert on_jax == pytest.approx(on_numpy, rel=1e-12)


def test_a_part_its_check_refuses_is_left_out_of_the_shared_program(
    monkeypatch: pytest.MonkeyPatch, compiles: Callable[[], int]
) -> None:
    """rtrl over its budget must not run inside a shared program either (its memory)."""
    from rnn_oracle._reference import computed_together

    case = make_case(RNNSpec(n_x=2, n_h=3, n_y=2), 3, batch=2, seed=0)
    monkeypatch.setattr(rtrl, "MEMORY_BUDGET_BYTES", rtrl.memory_estimate(case) - 1)
    with computed_together(case, "jax", ["bptt", "rtrl", "autodiff"]):
        reference(case, "jax", "bptt")
    (shared,) = [k[1] for k in _compiled._PROGRAMS if isinstance(k[1], tuple)
                 and k[1][0] == "together"]
    assert rtrl.gradients.__wrapped__ not in shared  # type: ignore[attr-defined]
    assert len(shared) == 3  # "together", bptt and autodiff
