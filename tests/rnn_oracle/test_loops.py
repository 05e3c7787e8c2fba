"""``_loops.scan``: one step over time, a Python loop or ``lax.scan``, the same answer; the
torch forward pass differentiates without per-step indexing (linear in T)."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as np_xp
import numpy as np
import pytest

import rnn_oracle as ro
from backends import available_backends, get_backend
from rnn_oracle._loops import scan, staged
from rnn_oracle.derivations.base import to_backend
from rnn_oracle.model import loss_function

needs_torch = pytest.mark.skipif("torch" not in available_backends(), reason="no torch")
needs_jax = pytest.mark.skipif("jax" not in available_backends(), reason="no jax")


def _step(carry: Any, x: tuple[Any, Any]) -> tuple[Any, tuple[Any, Any]]:
    u, v = x
    new = carry * u + v
    return new, (new, carry)


def _expected(xs: tuple[np.ndarray, np.ndarray], reverse: bool) -> tuple[Any, Any, Any]:
    order = range(len(xs[0]) - 1, -1, -1) if reverse else range(len(xs[0]))
    carry, news, olds = np.ones(2), {}, {}
    for t in order:
        olds[t] = carry
        carry = carry * xs[0][t] + xs[1][t]
        news[t] = carry
    ordered = sorted(news)
    return carry, np.stack([news[t] for t in ordered]), np.stack([olds[t] for t in ordered])


@pytest.mark.numpy_only
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_is_a_fold_with_ys_in_time_order(reverse: bool) -> None:
    rng = np.random.default_rng(0)
    xs = (rng.standard_normal((4, 2)), rng.standard_normal((4, 2)))
    carry, (news, olds) = scan(np_xp, _step, np.ones(2), xs, reverse=reverse)
    want = _expected(xs, reverse)
    np.testing.assert_array_equal(carry, want[0])
    np.testing.assert_array_equal(news, want[1])
    np.testing.assert_array_equal(olds, want[2])


@pytest.mark.numpy_only
def test_scan_accepts_plain_numpy_and_a_single_array() -> None:
    carry, ys = scan(np, lambda c, x: (c + x, c), 0.0, np.arange(3.0))
    assert carry == 3.0
    np.testing.assert_array_equal(ys, [0.0, 0.0, 1.0])


@needs_jax
@pytest.mark.parametrize("reverse", [False, True])
def test_staged_jax_scan_is_lax_scan_with_the_same_answer(reverse: bool) -> None:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    xs = (rng.standard_normal((4, 2)), rng.standard_normal((4, 2)))
    want = _expected(xs, reverse)

    def run(xs: Any) -> Any:
        with staged():
            return scan(jnp, _step, jnp.ones(2), xs, reverse=reverse)

    jaxpr = jax.make_jaxpr(run)(xs)
    assert any(eqn.primitive.name == "scan" for eqn in jaxpr.eqns)
    carry, (news, olds) = jax.jit(run)(xs)
    np.testing.assert_allclose(carry, want[0], rtol=1e-6)
    np.testing.assert_allclose(news, want[1], rtol=1e-6)
    np.testing.assert_allclose(olds, want[2], rtol=1e-6)
    # Not staged: the Python loop (an eager lax.scan would compile on every call).
    eager = jax.make_jaxpr(lambda xs: scan(jnp, _step, jnp.ones(2), xs, reverse=reverse))(xs)
    assert not any(eqn.primitive.name == "scan" for eqn in eager.eqns)


def _backward_nodes(loss: Any) -> list[str]:
    """The type names of every node in ``loss``'s autograd graph."""
    seen, todo, names = set(), [loss.grad_fn], []
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(fn for fn, _ in node.next_functions)
    return names


@needs_torch
def test_torch_reverse_mode_of_the_forward_never_indexes_a_step() -> None:
    """``x_proj[t]`` would put a SelectBackward node per step in the graph, each filling a
    (T, B, n_h) zero tensor in the backward pass: O(T²). ``unbind`` has one node."""
    be = get_backend("torch")
    case = ro.make_case(ro.RNNSpec(), 6, batch=2, seed=0)
    on = to_backend(case, be)
    leaves = {n: v.requires_grad_(True) for n, v in on.arrays.items()}
    loss = loss_function(case.spec, be.xp, inputs=on.index_inputs, targets=on.targets,
                         upstream=on.upstream)(leaves)
    names = _backward_nodes(loss)
    assert not [n for n in names if n.startswith("SelectBackward")], sorted(set(names))
    assert names.count("UnbindBackward0") == 1


@needs_torch
def test_torch_reverse_mode_of_a_network_never_indexes_a_step() -> None:
    from rnn_oracle.architectures import NetworkSpec, make_network_case
    from rnn_oracle.architectures.reference import loss_of, on_backend

    be = get_backend("torch")
    case = make_network_case(NetworkSpec(architecture="stacked", n_layers=2), 6, batch=2)
    on = on_backend(case, be)
    leaves = {n: v.requires_grad_(True) for n, v in on.arrays.items()}
    names = _backward_nodes(loss_of(case, on)(leaves))
    assert not [n for n in names if n.startswith("SelectBackward")], sorted(set(names))
    assert names.count("UnbindBackward0") == 2  # one per layer
