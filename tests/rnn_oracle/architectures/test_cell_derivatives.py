"""step_vjp: one step's derivatives by complex step (or autodiff), against torch autograd
of the same step; require_analytic refuses what complex step would get wrong."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_oracle import Cell, OracleError
from rnn_oracle.architectures import BUILTIN_CELLS
from rnn_oracle.architectures.cell_derivatives import require_analytic, step_vjp
from rnn_oracle.model import rounded_nonlinearities


def _point(cell: Cell, dtype=np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = {n: (0.7 * rng.standard_normal(s)).astype(dtype)
         for n, s in cell.shapes(3, 4).items()}
    prev = tuple(rng.standard_normal((2, 4)).astype(dtype) for _ in cell.states)
    x = rng.standard_normal((2, 3)).astype(dtype)
    d_new = tuple(rng.standard_normal((2, 4)).astype(dtype) for _ in cell.states)
    return p, prev, x, d_new


def _torch_vjp(cell: Cell, p, prev, x, d_new):
    torch = pytest.importorskip("torch")
    args = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
            for v in (*p.values(), *prev, x)]
    names, n_p = list(p), len(p)
    new = cell.run_step(dict(zip(names, args[:n_p], strict=True)), tuple(args[n_p:-1]),
                        args[-1], torch)
    total = sum((torch.from_numpy(np.asarray(d, dtype=np.float64)) * s).sum()
                for d, s in zip(d_new, new, strict=True))
    grads = [g.numpy() for g in torch.autograd.grad(total, args)]
    return dict(zip(names, grads[:n_p], strict=True)), tuple(grads[n_p:-1]), grads[-1]


def _flat(vjp) -> np.ndarray:
    dp, d_prev, dx = vjp
    return np.concatenate([*(np.ravel(v) for v in dp.values()),
                           *(np.ravel(v) for v in d_prev), np.ravel(dx)])


@pytest.mark.parametrize("name", sorted(BUILTIN_CELLS))
def test_complex_step_vjp_matches_torch_autograd(name: str) -> None:
    cell = BUILTIN_CELLS[name]
    point = _point(cell)
    ours = step_vjp(cell, *point)
    np.testing.assert_allclose(_flat(ours), _flat(_torch_vjp(cell, *point)), rtol=0,
                               atol=1e-13)
    assert set(ours[0]) == set(point[0])


def test_a_float32_step_is_differentiated_in_complex64() -> None:
    cell = BUILTIN_CELLS["peephole_lstm"]
    point32 = _point(cell, np.float32)
    ours = step_vjp(cell, *point32)
    assert all(v.dtype == np.float32 for v in (*ours[0].values(), *ours[1], ours[2]))
    exact = _flat(_torch_vjp(cell, *point32))  # float64 autograd at the float32 point
    error = np.max(np.abs(_flat(ours) - exact)) / np.max(np.abs(exact))
    assert 1e-12 < error < 1e-5  # float32 rounding, not float64's


def _abs_step(p, h, x, xp):
    return xp.tanh(x @ p["W"].T + xp.abs(h))


def test_require_analytic_refuses_abs_and_passes_the_builtins() -> None:
    cell = Cell("abs_cell", _abs_step, lambda n_in, n_h: {"W": (n_h, n_in)})
    p, prev, x, _ = _point(cell)
    with pytest.raises(OracleError, match=r"'abs_cell': its step is not analytic"):
        require_analytic(cell, p, prev, x)
    for builtin in BUILTIN_CELLS.values():
        require_analytic(builtin, *_point(builtin)[:3])


def test_a_step_that_refuses_complex_input_is_named() -> None:
    def real_only(p, h, x, xp):
        if np.iscomplexobj(h):
            raise TypeError("no complex here")
        return xp.tanh(x @ p["W"].T + h)

    cell = Cell("real_only", real_only, lambda n_in, n_h: {"W": (n_h, n_in)})
    with pytest.raises(OracleError, match=r"does not run on complex arrays"):
        require_analytic(cell, *_point(cell)[:3])


def test_require_analytic_stands_aside_while_nonlinearities_are_jittered() -> None:
    cell = Cell("abs_cell", _abs_step, lambda n_in, n_h: {"W": (n_h, n_in)})
    with rounded_nonlinearities(lambda a: a):
        require_analytic(cell, *_point(cell)[:3])  # no error: the float64 run decides


def test_a_cell_declared_not_analytic_goes_to_autodiff() -> None:
    pytest.importorskip("torch")
    cell = Cell("abs_cell", _abs_step, lambda n_in, n_h: {"W": (n_h, n_in)}, analytic=False)
    point = _point(cell)
    np.testing.assert_allclose(_flat(step_vjp(cell, *point)),
                               _flat(_torch_vjp(cell, *point)), rtol=0, atol=1e-14)
