"""Verdicts you can trust: no vacuous pass at realistic sizes, no verdict on a case that
cannot tell right from wrong, no judgement of values the dtype cannot hold, and a target's
own exit is the target's error.

The grid: a CS231n-style tanh layer whose ``Wh`` gradient is transposed must fail, and the
correct layer must pass, at every (n_h, T) users train at. The full grid (n_h up to 256,
T up to 1 000, both dtypes) runs where ``RNN_ORACLE_FULL_GRID=1`` (the ``tests-numpy`` nox
session); elsewhere a smaller one does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np
import pytest

import rnn_oracle as ro
from rnn_oracle.errors import ExitCode
from rnn_oracle.oracle.check import NETWORK_SEQ_LENS, SEQ_LENS

FULL = os.environ.get("RNN_ORACLE_FULL_GRID") == "1"
SIZES = (16, 64, 128, 256) if FULL else (16, 64)
LENGTHS = (16, 64, 256, 1000) if FULL else (16, 64, 256)


def cs231n_layer(cell: str = "tanh", mutate: Callable[[np.ndarray], np.ndarray] | None = None):
    """CS231n's rnn_forward/rnn_backward (row vectors, batch first), optionally with one
    slip in the returned ``Wh`` gradient."""
    act = {"tanh": np.tanh, "identity": lambda a: a}[cell]

    def layer(params, x, h0, up):
        Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
        hs, h = [], h0
        for t in range(x.shape[1]):
            h = act(x[:, t] @ Wx + h @ Wh + b)
            hs.append(h)
        g = {k: np.zeros_like(v) for k, v in params.items()}
        dx, dprev = np.zeros_like(x), np.zeros_like(h0)
        for t in reversed(range(x.shape[1])):
            prev = hs[t - 1] if t else h0
            da = up[:, t] + dprev
            if cell == "tanh":
                da = da * (1 - hs[t] ** 2)
            g["Wx"] += x[:, t].T @ da
            g["Wh"] += prev.T @ da
            g["b"] += da.sum(0)
            dx[:, t] = da @ Wx.T
            dprev = da @ Wh.T
        if mutate is not None:
            g["Wh"] = mutate(g["Wh"])
        return {**g, "inputs": dx, "h0": dprev}

    return layer


def transposed(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("n", SIZES)
def test_transposed_wh_fails_and_correct_code_passes_at_every_size(n: int, T: int, dtype: str):
    spec = ro.RNNSpec(cell="tanh", n_x=n, n_h=n, n_y=n, head="none")
    options = dict(convention="cs231n", mode="layer", spec=spec, seq_len=T, cases=1,
                   dtype=dtype, diagnose_failures=False)
    wrong = ro.check_gradients(cs231n_layer(mutate=transposed), **options)
    assert wrong.verdict == "wrong" and wrong["Wh"].verdict == "wrong", wrong.summary
    right = ro.check_gradients(cs231n_layer(), **options)
    assert right.verdict == "right", right.summary
    # The bound behind the pass resolves a 1 % error of the largest entry.
    wh = right["Wh"]
    assert wh.atol <= 1e-2 * np.max(np.abs(wh.reference))


@pytest.mark.parametrize("mutate", [np.zeros_like, transposed, lambda a: 10 * a],
                         ids=["zero", "transposed", "10x"])
def test_the_identity_cell_repro_never_passes_a_wrong_gradient(mutate) -> None:
    """Identity cell, 3/4/4, head none, T = 40, batch 1, scale 1.1, seed 8: the compounded
    term scale made the bound 100 times the largest reference entry."""
    spec = ro.RNNSpec(cell="identity", n_x=3, n_h=4, n_y=4, head="none")
    options = dict(convention="cs231n", mode="layer", spec=spec, seq_len=40, batch=1,
                   scale=1.1, seed=8, cases=1)
    report = ro.check_gradients(cs231n_layer("identity", mutate), **options)
    assert report.verdict == "wrong" and report["Wh"].verdict == "wrong"
    assert ro.check_gradients(cs231n_layer("identity"), **options).verdict == "right"


CHAOTIC = dict(convention="cs231n", mode="layer", seq_len=200, cases=1, dtype="float32",
               diagnose_failures=False)


def chaotic_spec() -> ro.RNNSpec:
    return ro.RNNSpec(cell="tanh", n_x=32, n_h=32, n_y=32, head="none")


def test_a_case_that_cannot_judge_is_inconclusive_and_replaced() -> None:
    """A saturated, chaotic float32 forward over 200 steps drifts by more than 1 % of some
    gradient: with the scale fixed, every replacement is as bad, and the gradient is
    reported inconclusive — never ok — with the counts."""
    report = ro.check_gradients(cs231n_layer(), spec=chaotic_spec(), scale=3.0, **CHAOTIC)
    assert report.verdict == "inconclusive" and not report.passed
    assert report.exit_code == ExitCode.NOT_JUDGED
    open_ = report.inconclusive
    assert open_ and all(g.cases_judged == 0 for g in open_)
    assert all(g.cases_drawn == len(report.cases) > 1 for g in open_)
    assert all("cannot resolve" in (g.inconclusive_reason or "") for g in open_)
    data = report.to_dict()
    assert data["verdict"] == "inconclusive" and data["exit_code"] == 3
    assert {g["name"]: g["cases_judged"] for g in data["gradients"]}[open_[0].name] == 0
    assert "INCONCLUSIVE" in report.summary


def test_a_free_scale_draws_a_case_that_can_judge() -> None:
    report = ro.check_gradients(cs231n_layer(), spec=chaotic_spec(), **CHAOTIC)
    assert report.verdict == "right", report.summary
    assert all(g.cases_judged >= 1 for g in report.gradients)


def test_a_zero_gradient_is_not_passed_where_the_case_cannot_judge() -> None:
    report = ro.check_gradients(cs231n_layer(mutate=np.zeros_like), spec=chaotic_spec(),
                                scale=3.0, **CHAOTIC)
    assert report.verdict != "right" and report["Wh"].verdict != "ok"


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_values_beyond_float32_are_redrawn_not_judged() -> None:
    """An identity cell at scale 4 over 80 steps: the exact gradient exceeds float32's
    range; the case is not judged (a float32 implementation would 'fail' with inf)."""
    spec = ro.RNNSpec(cell="identity", n_x=3, n_h=8, n_y=3, head="none")
    report = ro.check_gradients(cs231n_layer("identity"), convention="cs231n", mode="layer",
                                spec=spec, seq_len=80, scale=4.0, cases=1, dtype="float32",
                                diagnose_failures=False)
    assert report.verdict == "inconclusive"
    assert any("float32 can hold" in (c.reason or "") for c in report.cases)


def test_a_user_bound_is_recorded_and_a_vacuous_one_judges_nothing() -> None:
    spec = ro.RNNSpec(cell="tanh", n_x=4, n_h=5, n_y=4, head="none")
    options = dict(convention="cs231n", mode="layer", spec=spec, cases=1)
    tight = ro.check_gradients(cs231n_layer(), atol=1e-9, **options)
    assert tight.verdict == "right" and tight.overrides == {"atol": 1e-9}
    assert all(g.atol == 1e-9 for g in tight.gradients)
    vacuous = ro.check_gradients(cs231n_layer(mutate=np.zeros_like), atol=1e6, **options)
    assert vacuous.verdict == "inconclusive" and vacuous["Wh"].verdict == "inconclusive"
    with pytest.raises(ro.OracleError, match="atol: expected a positive finite number"):
        ro.check_gradients(cs231n_layer(), atol=-1.0, **options)


def test_the_default_schedules_reach_long_sequences() -> None:
    assert max(SEQ_LENS[:3]) >= 64 and max(NETWORK_SEQ_LENS[:3]) >= 64
    report = ro.check_gradients(cs231n_layer(), convention="cs231n", mode="layer",
                                spec=ro.RNNSpec(cell="tanh", n_x=4, n_h=5, n_y=4, head="none"))
    assert max(c.seq_len for c in report.cases) >= 64 and report.verdict == "right"


def test_a_target_that_exits_is_an_oracle_error_naming_it() -> None:
    def exits(params, x, h0, up):
        raise SystemExit(3)

    with pytest.raises(ro.OracleError, match="exits raised SystemExit"):
        ro.check_gradients(exits, convention="cs231n", mode="layer", cases=1)


def test_a_blocked_jax_does_not_blame_a_numpy_target(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)
    spec = ro.RNNSpec(cell="tanh", n_x=4, n_h=5, n_y=4, head="none")
    report = ro.check_gradients(cs231n_layer(), convention="cs231n", mode="layer", spec=spec,
                                cases=1)
    assert report.verdict == "right"


def test_the_three_layer_width_one_torch_rnn_passes() -> None:
    """``nn.RNN(4, 1, num_layers=3)``, seed 3, float64: entries cancel; torch differs from
    the hand BPTT by 3.8e-16 where ``1e-10 · max |R|`` allowed 5.2e-19."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.RNN(4, 1, num_layers=3).double()
    report = ro.check_gradients(module, seed=3)
    assert report.verdict == "right", report.summary
