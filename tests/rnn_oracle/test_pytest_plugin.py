"""The pytest plugin, run in a scratch pytest session (pytester)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    assert written.name == "test_user.py_test_options-1.json"  # the node id, made safe
    assert json.loads(written.read_text())["causes"]["Wx"] == "local_only"


def test_help_lists_the_options_and_ini_keys(session: pytest.Pytester) -> None:
    result = _run(session, "--help")
    result.stdout.fnmatch_lines(["*--rnn-oracle-cases*", "*--rnn-oracle-json*",
                                 "*rnn_oracle_cases*", "*rnn_oracle_dtype*"])


OPTIONS_TEST = '''
from impl import buggy

def test_options(gradient_oracle):
    report = gradient_oracle.check(buggy, convention="cs231n", mode="layer")
    assert (len(report.cases), report.cases[0].seed, report.dtype) == EXPECTED
'''


def test_settings_from_pyproject_and_the_command_line_wins(session: pytest.Pytester) -> None:
    session.makepyprojecttoml(
        '[tool.pytest.ini_options]\n'
        'rnn_oracle_cases = "2"\nrnn_oracle_seed = "5"\nrnn_oracle_dtype = "float32"\n'
        'rnn_oracle_json = "reports"\n'
    )
    session.makepyfile(test_user=OPTIONS_TEST.replace("EXPECTED", "(2, 5, 'float32')"))
    _run(session).assert_outcomes(passed=1)
    # The ini folder is relative to the ini file.
    assert [p.name for p in (session.path / "reports").glob("*.json")] == [
        "test_user.py_test_options-1.json"
    ]
    session.makepyfile(test_user=OPTIONS_TEST.replace("EXPECTED", "(1, 5, 'float64')"))
    _run(session, "--rnn-oracle-cases", "1", "--rnn-oracle-dtype", "float64").assert_outcomes(
        passed=1
    )


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ('rnn_oracle_cases = "zero"', "ini rnn_oracle_cases: expected an integer ≥ 1, got 'zero'"),
        ('rnn_oracle_seed = "-2"', "ini rnn_oracle_seed: expected an integer ≥ 0, got -2"),
        ('rnn_oracle_dtype = "float16"',
         "ini rnn_oracle_dtype: expected one of float64, float32, got 'float16'"),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_key(
    session: pytest.Pytester, ini: str, message: str
) -> None:
    session.makepyprojecttoml(f"[tool.pytest.ini_options]\n{ini}\n")
    session.makepyfile(test_user="def test_nothing():\n    pass\n")
    result = _run(session)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    result = _run(session, "--rnn-oracle-cases", "0")  # the command line is checked too
    assert "--rnn-oracle-cases: expected an integer ≥ 1, got 0" in result.stderr.str()


FAILING_TEST = '''
from impl import buggy

def test_bad(assert_gradients_match):
    assert_gradients_match(buggy, convention="cs231n", mode="layer")
'''


def test_the_failure_names_the_causes_first_and_hides_our_frames(
    session: pytest.Pytester,
) -> None:
    session.makepyfile(test_user=FAILING_TEST)
    result = _run(session, "-ra", "-vv")  # -vv: pytest does not cut the summary line
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # The short summary line and the exception's first line name every cause.
    causes = ("Wx: local_only; Wh: local_only; b: local_only; inputs: local_only; "
              "h0: local_only")
    result.stdout.fnmatch_lines([f"FAILED test_user.py::test_bad - GradientMismatch: {causes}"])
    result.stdout.fnmatch_lines([f"E *GradientMismatch: rnn-oracle FAIL: {causes}"])
    # The traceback stops at the user's line: no frame of the plugin or the oracle.
    assert "pytest_plugin.py" not in out and "self = <rnn_oracle" not in out
    assert "rnn_oracle/oracle/check.py" not in out
    result.stdout.fnmatch_lines(["*- rnn-oracle -*", "FAIL: 5 of 5 gradients wrong*"])
    # The fixture's value, shown as the test's argument, reads as what it is.
    result.stdout.fnmatch_lines(["assert_gradients_match = <rnn-oracle assert_gradients_match "
                                 "for test_user.py::test_bad>"])


def test_works_under_xdist(session: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (the test extra has it)")
    session.makepyfile(
        test_one='''
        from impl import rnn_layer, buggy

        def test_good(assert_gradients_match):
            assert_gradients_match(rnn_layer, convention="cs231n", mode="layer")

        def test_bad(assert_gradients_match):
            assert_gradients_match(buggy, convention="cs231n", mode="layer")
        ''',
        test_two='''
        from impl import buggy

        def test_bad(assert_gradients_match):  # the same name as in test_one
            assert_gradients_match(buggy, convention="cs231n", mode="layer")
        ''',
    )
    out = tmp_path / "reports"
    result = session.runpytest_subprocess(
        "-p", "xdist", "-p", "rnn_oracle.pytest_plugin", "-p", "no:cacheprovider",
        "-n", "2", "-ra", "--rnn-oracle-cases", "2", "--rnn-oracle-json", str(out),
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*2 workers*"])
    result.stdout.fnmatch_lines(["FAILED test_*.py::test_bad - GradientMismatch: Wx: local_only*"])
    written = sorted(p.name for p in out.glob("*.json"))
    assert written == ["test_one.py_test_bad-1.json", "test_two.py_test_bad-1.json"]
    for path in out.glob("*.json"):
        assert len(json.loads(path.read_text())["cases"]) >= 2


def _python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120, check=False)


def test_the_plugin_module_adds_nothing_to_its_package() -> None:
    """Past the ``rnn_oracle`` package itself, loading the plugin imports pytest only: the
    check machinery loads on first use."""
    done = _python(
        "import sys, pytest, rnn_oracle\n"
        "before = set(sys.modules)\n"
        "import rnn_oracle.pytest_plugin\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['rnn_oracle.pytest_plugin']"


def test_loading_the_plugin_imports_neither_numpy_nor_backends() -> None:
    done = _python(
        "import sys\n"
        "import rnn_oracle.pytest_plugin\n"
        "heavy = sorted(m for m in ('numpy', 'backends', 'conventions', 'rich') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    assert done.returncode == 0, done.stderr
