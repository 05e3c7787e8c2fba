"""pytest plugin: fixtures that check RNN gradients inside your test suite.

Registered through the ``pytest11`` entry point, or by hand with
``pytest_plugins = ["rnn_oracle.pytest_plugin"]`` in a ``conftest.py``.

Loading it costs nothing a test session would notice: this module imports only pytest and
the standard library; the oracle itself (NumPy, the check machinery, ``backends`` and
``conventions``) is imported when a fixture is first used.

Fixtures:

* ``assert_gradients_match`` — :func:`rnn_oracle.assert_gradients_match` with the session's
  defaults applied; raises :class:`rnn_oracle.GradientMismatch` (an ``AssertionError``
  carrying ``.report``) when a gradient is wrong.
* ``gradient_oracle`` — an :class:`Oracle` with ``check`` (returns the report) and
  ``assert_match``.

Settings, each a command-line option or an ini key (``[tool.pytest.ini_options]`` in
``pyproject.toml``, or ``pytest.ini``); the command line wins:

========================  ======================  ==================================
command line              ini key                 meaning
========================  ======================  ==================================
``--rnn-oracle-cases N``  ``rnn_oracle_cases``    cases per check (calls that say win)
``--rnn-oracle-seed S``   ``rnn_oracle_seed``     seed of the first case
``--rnn-oracle-dtype D``  ``rnn_oracle_dtype``    ``float64`` or ``float32``
``--rnn-oracle-json DIR`` ``rnn_oracle_json``     write each failing check's JSON report
========================  ======================  ==================================

A report is written as ``DIR/<test id>-<k>.json`` (the test's node id, such as
``test_rnn.py::test_gradients``, with ``:``, ``/`` and other unsafe characters as ``_``;
``k`` counts the test's checks), so names stay unique under pytest-xdist.

An ini ``rnn_oracle_json`` is relative to the ini file's folder, a command-line one to the
folder pytest was started in.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rnn_oracle.oracle.report import GradientReport

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Setting:
    """One plugin setting: its ini key and command-line option, and how a value reads."""

    key: str
    help: str
    metavar: str

    @property
    def option(self) -> str:
        return "--" + self.key.replace("_", "-")


SETTINGS = (
    Setting("rnn_oracle_cases", "random cases per gradient check (default: the call's, "
            "else 3)", "N"),
    Setting("rnn_oracle_seed", "seed of the first case (default: the call's, else 0)", "S"),
    Setting("rnn_oracle_dtype", "dtype of the arrays, float64 or float32 (default: the "
            "call's, else float64)", "DTYPE"),
    Setting("rnn_oracle_json", "write the JSON report of every failing check to this folder",
            "DIR"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-oracle", "RNN gradient oracle")
    for s in SETTINGS:
        group.addoption(s.option, dest=s.key, default=None, metavar=s.metavar,
                        help=f"{s.help}; ini: {s.key}")
        parser.addini(s.key, help=s.help, default=None)


@dataclass(frozen=True)
class Session:
    """The settings of one test session, read and checked once, at configure time."""

    defaults: dict[str, Any]  #: keyword defaults for check_gradients
    json_dir: Path | None


_SESSION = pytest.StashKey[Session]()


def _integer(where: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise pytest.UsageError(f"{where}: expected an integer ≥ {minimum}, got {text!r}") from None
    if value < minimum:
        raise pytest.UsageError(f"{where}: expected an integer ≥ {minimum}, got {value}")
    return value


def read_session(config: pytest.Config) -> Session:
    """The settings from the command line, else the ini file; a bad value is a
    :class:`pytest.UsageError` naming the option or key, what was expected and what came."""
    values: dict[str, tuple[str, str, Path]] = {}  # key -> (value, where, relative to)
    for s in SETTINGS:
        given = config.getoption(s.key)
        if given is not None:
            values[s.key] = (str(given), s.option, config.invocation_params.dir)
            continue
        ini = config.getini(s.key)
        if ini not in (None, "", []):
            base = config.inipath.parent if config.inipath is not None else config.rootpath
            values[s.key] = (str(ini).strip(), f"ini {s.key}", base)
    defaults: dict[str, Any] = {}
    if "rnn_oracle_cases" in values:
        text, where, _ = values["rnn_oracle_cases"]
        defaults["cases"] = _integer(where, text, 1)
    if "rnn_oracle_seed" in values:
        text, where, _ = values["rnn_oracle_seed"]
        defaults["seed"] = _integer(where, text, 0)
    if "rnn_oracle_dtype" in values:
        text, where, _ = values["rnn_oracle_dtype"]
        if text not in DTYPES:
            raise pytest.UsageError(f"{where}: expected one of {', '.join(DTYPES)}, got {text!r}")
        defaults["dtype"] = text
    json_dir = None
    if "rnn_oracle_json" in values:
        text, _, base = values["rnn_oracle_json"]
        json_dir = base / Path(text).expanduser()
    return Session(defaults, json_dir)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION] = read_session(config)


class Oracle:
    """The oracle with a test session's defaults; what the fixtures hand out."""

    def __init__(self, defaults: dict[str, Any], json_dir: str | Path | None,
                 test_name: str) -> None:
        #: ``test_name`` names the JSON reports (``<test_name>-<k>.json``, unsafe characters
        #: as ``_``); the fixtures give the test's node id, unique across files and workers.
        self.defaults = dict(defaults)
        self.json_dir = None if json_dir is None else Path(json_dir)
        self.test_name = test_name
        self.reports: list[GradientReport] = []

    def __repr__(self) -> str:
        return f"<rnn-oracle gradient_oracle for {self.test_name}>"

    def check(self, target: Any, **options: Any) -> GradientReport:
        """:func:`rnn_oracle.check_gradients` with the session's defaults (the call's own
        options win)."""
        __tracebackhide__ = True
        from rnn_oracle.oracle.check import check_gradients

        report = check_gradients(target, **{**self.defaults, **options})
        self.reports.append(report)
        if not report.passed and self.json_dir is not None:
            self.json_dir.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.test_name).strip("_")
            path = self.json_dir / f"{stem}-{len(self.reports)}.json"
            path.write_text(report.to_json(), encoding="utf-8")
        return report

    def assert_match(self, target: Any, **options: Any) -> GradientReport:
        """Like :meth:`check`, raising :class:`~rnn_oracle.GradientMismatch` unless every
        gradient was judged right."""
        __tracebackhide__ = True
        from rnn_oracle.oracle.check import GradientMismatch

        report = self.check(target, **options)
        if not report.passed:
            raise GradientMismatch(report)
        return report


class AssertGradientsMatch:
    """What the ``assert_gradients_match`` fixture hands out: :meth:`Oracle.assert_match`
    with a readable ``repr`` (pytest shows it as the test's argument on a failure)."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle

    def __call__(self, target: Any, **options: Any) -> GradientReport:
        __tracebackhide__ = True
        return self.oracle.assert_match(target, **options)

    def __repr__(self) -> str:
        return f"<rnn-oracle assert_gradients_match for {self.oracle.test_name}>"


@pytest.fixture
def gradient_oracle(request: pytest.FixtureRequest) -> Oracle:
    """An :class:`Oracle` using the ``rnn_oracle_*`` settings as defaults."""
    __tracebackhide__ = True
    session = request.config.stash.get(_SESSION, None) or read_session(request.config)
    return Oracle(session.defaults, session.json_dir, request.node.nodeid)


@pytest.fixture
def assert_gradients_match(gradient_oracle: Oracle) -> Callable[..., GradientReport]:
    """``assert_gradients_match(target, convention=..., **options)`` for this test."""
    __tracebackhide__ = True
    return AssertGradientsMatch(gradient_oracle)


def _mismatch(exc: BaseException | None) -> Any:
    """``exc`` when it is a GradientMismatch. It can only be one when the check module
    is loaded, so this never imports it."""
    check = sys.modules.get("rnn_oracle.oracle.check")
    if exc is None or check is None:
        return None
    return exc if isinstance(exc, check.GradientMismatch) else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Any:
    __tracebackhide__ = True
    report = yield
    exc = _mismatch(call.excinfo.value if call.excinfo is not None else None)
    if exc is None:
        return report
    from rnn_oracle.oracle.render import causes_line

    gradients: GradientReport = exc.report
    causes = causes_line(gradients) or gradients.verdict
    # Machine-readable: JUnit XML carries user properties.
    item.user_properties.append(("rnn_oracle_causes", gradients.causes))
    item.user_properties.append(("rnn_oracle_verdict", gradients.verdict))
    report.sections.append(("rnn-oracle", gradients.summary))
    # The short summary line (-ra, --tb=line) reads the crash message: name the causes
    # there, not the exception's full module path.
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        crash.message = f"GradientMismatch: {causes}"
    return report
