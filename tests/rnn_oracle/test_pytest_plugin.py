"""The pytest plugin, run in a scratch pytest session (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Import in this process what the inner sessions use: pytester restores sys.modules after
# each inline run, and NumPy's extension modules cannot be loaded twice.
import rnn_oracle.oracle.render
import rnn_oracle.pytest_plugin  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

IMPL = '''
import numpy as np

def rnn_layer(params, x, h0, upstream, *, forget_recurrence=False):
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    N, T, _ = x.shape
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dx, carry = np.zeros_like(x), np.zeros_like(h0)
    for t in reversed(range(T)):
        prev = hs[t - 1] if t else h0
        da = (upstream[:, t] + (0 if forget_recurrence else carry)) * (1 - hs[t] ** 2)
        grads["Wx"] += x[:, t].T @ da
        grads["Wh"] += prev.T @ da
        grads["b"] += da.sum(0)
        dx[:, t] = da @ Wx.T
        carry = da @ Wh.T
    return {**grads, "inputs": dx, "h0": carry}

def buggy(params, x, h0, upstream):
    return rnn_layer(params, x, h0, upstream, forget_recurrence=True)
'''


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Load the plugin explicitly, and only it: the same whether or not the installed
    # distribution also registers it through its pytest11 entry point.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert(str(ROOT))
    pytester.makepyfile(impl=IMPL)
    return pytester


def _run(session: pytest.Pytester, *args: str) -> pytest.RunResult:
    return session.runpytest("-p", "rnn_oracle.pytest_plugin", "-p", "no:cacheprovider", *args)


def test_fixture_passes_and_fails_with_the_diagnosis(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_user='''
        from impl import rnn_layer, buggy

        def test_good(assert_gradients_match):
            report = assert_gradients_match(rnn_layer, convention="cs231n", mode="layer")
            assert report.passed

        def test_bad(assert_gradients_match):
            assert_gradients_match(buggy, convention="cs231n", mode="layer")
        '''
    )
    result = _run(session)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*GradientMismatch*", "*local_only*", "*rnn-oracle*"])


def test_mismatch_is_an_assertion_error_carrying_the_report(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_user='''
        import pytest
        import rnn_oracle as ro
        from impl import buggy

        def test_catch():
            with pytest.raises(AssertionError) as info:
                ro.assert_gradients_match(buggy, convention="cs231n", mode="layer", cases=1)
            assert isinstance(info.value, ro.GradientMismatch)
            assert info.value.report.causes["Wh"] == "local_only"
        '''
    )
    _run(session).assert_outcomes(passed=1)


def test_command_line_defaults_and_json_dir(session: pytest.Pytester, tmp_path: Path) -> None:
    session.makepyfile(
        test_user='''
        from impl import buggy

        def test_options(gradient_oracle):
            report = gradient_oracle.check(buggy, convention="cs231n", mode="layer")
            assert len(report.cases) == 2 and report.cases[0].seed == 7
            assert report.dtype == "float32" and not report.passed
        '''
    )
    out = tmp_path / "reports"
    result = _run(
        session, "--rnn-oracle-cases", "2", "--rnn-oracle-seed", "7",
        "--rnn-oracle-dtype", "float32", "--rnn-oracle-json", str(out),
    )
    result.assert_outcomes(passed=1)
    (written,) = out.glob("*.json")
    assert json.loads(written.read_text())["causes"]["Wx"] == "local_only"


def test_help_lists_the_options(session: pytest.Pytester) -> None:
    result = _run(session, "--help")
    result.stdout.fnmatch_lines(["*--rnn-oracle-cases*", "*--rnn-oracle-json*"])
