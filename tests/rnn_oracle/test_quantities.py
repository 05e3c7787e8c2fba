"""Named quantities against independent complex-step derivatives, in several layouts."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_oracle import OracleError, RNNSpec, make_case, reference
from rnn_oracle import quantities as q
from rnn_oracle.model import forward

pytestmark = pytest.mark.numpy_only  # no framework: tests/conftest.py

STEP = 1e-30


def _states(case, params=None, h0=None):
    params = params or {k: v.astype(complex) for k, v in case.params.items()}
    h0 = case.h0.astype(complex) if h0 is None else h0
    x = case.inputs.astype(complex)
    return forward(case.spec, params, x, h0, np, upstream=case.upstream).h


@pytest.mark.parametrize("param", ["W_hh", "W_xh", "b_h"])
def test_state_jacobian_is_the_total_derivative(param: str) -> None:
    case = make_case(RNNSpec(n_x=2, n_h=3, head="none"), 4, seed=2)
    t = 2
    tensor = q.state_jacobian(case, t, param)
    assert tensor.shape == (3, *case.params[param].shape)
    base = {k: v.astype(complex) for k, v in case.params.items()}
    for index in np.ndindex(case.params[param].shape):
        p = dict(base)
        p[param] = p[param].copy()
        p[param][index] += 1j * STEP
        expected = _states(case, p)[t].imag / STEP
        assert np.allclose(tensor[(slice(None), *index)], expected, rtol=1e-12, atol=1e-15)
    flat = q.state_jacobian(case, t, param, layout="numerator", flatten="vec")
    assert flat.shape == (3, tensor[0].size)
    assert np.array_equal(flat, tensor.reshape(3, -1, order="F"))


def test_state_jacobian_needs_a_flattening_for_numerator_layout() -> None:
    case = make_case(RNNSpec(n_h=3, head="none"), 2)
    with pytest.raises(Exception, match="flatten"):
        q.state_jacobian(case, 0, layout="numerator")


def test_step_jacobian_in_both_layouts() -> None:
    case = make_case(RNNSpec(n_x=2, n_h=4, head="none"), 3, batch=2, seed=1)
    t, b = 1, 1
    num = q.step_jacobian(case, t, sample=b)
    den = q.step_jacobian(case, t, sample=b, layout="denominator")
    assert np.array_equal(den, num.T)
    h = _states(case)  # h[k] is h_{k+1}; h_0 is case.h0
    for j in range(4):
        h_t = h[t - 1].copy()  # h_t, perturbed
        h_t[b, j] += 1j * STEP
        a = h_t @ case.params["W_hh"].T + case.inputs[t] @ case.params["W_xh"].T
        col = np.tanh(a + case.params["b_h"])[b].imag / STEP
        assert np.allclose(num[:, j], col, rtol=1e-13, atol=1e-16)


def test_gradient_quantities_in_layouts() -> None:
    case = make_case(RNNSpec(n_x=2, n_h=3, n_y=2), 4, seed=3)
    ref = reference(case)
    mixed = q.per_step_contribution(case, "W_xh", 1)
    assert np.array_equal(mixed, ref.per_step["W_xh"][1])
    assert np.array_equal(q.per_step_contribution(case, "W_xh", 1, layout="numerator"), mixed.T)
    assert np.array_equal(q.local_partial(case, "W_hh", 3, layout="denominator"),
                          ref.local["W_hh"][3])
    assert q.hidden_gradient(case, 0, layout="numerator").shape == (1, 3)  # ∂s/∂x is 1×n
    assert q.hidden_gradient(case, 0, layout="denominator").shape == (3, 1)
    norms = q.hidden_gradient_norms(case)
    assert np.allclose(norms, np.linalg.norm(ref.hidden_grads, axis=1))


def test_identity_cell_gradients_explode_and_vanish_with_the_weight_scale() -> None:
    spec = RNNSpec(cell="identity", n_h=8, head="none")
    small = q.hidden_gradient_norms(q.last_step_case(spec, 30, scale=0.3))
    large = q.hidden_gradient_norms(q.last_step_case(spec, 30, scale=3.0))
    # Going back in time, the gradient shrinks for small weights and grows for large ones.
    assert small[0] < 1e-3 * small[-1]
    assert large[0] > 1e3 * large[-1]


def test_bad_arguments() -> None:
    case = make_case(RNNSpec(), 3, batch=2)
    with pytest.raises(OracleError, match=r"t: expected a step index in \[0, 3\)"):
        q.per_step_contribution(case, "W_hh", 3)
    with pytest.raises(OracleError, match="param: expected one of"):
        q.local_partial(case, "V", 0)
    with pytest.raises(OracleError, match="give sample in"):
        q.step_jacobian(case, 0)
    with pytest.raises(OracleError, match="W_hh, W_xh, b_h only"):
        q.state_jacobian(case, 0, "W_hy", sample=0)


def test_plot_gradient_norms(tmp_path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    ax = q.plot_gradient_norms(RNNSpec(cell="identity", n_h=6, head="none"), seq_len=20)
    assert len(ax.get_lines()) == 4
    out = tmp_path / "norms.png"
    ax.figure.savefig(out)
    assert out.stat().st_size > 1000
    plt.close(ax.figure)
