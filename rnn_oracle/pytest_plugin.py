"""pytest plugin: fixtures that check RNN gradients inside your test suite.

Registered through the ``pytest11`` entry point, or by hand with
``pytest_plugins = ["rnn_oracle.pytest_plugin"]`` in a ``conftest.py``.

Fixtures:

* ``assert_gradients_match`` — :func:`rnn_oracle.assert_gradients_match` with the
  command-line defaults applied; raises :class:`rnn_oracle.GradientMismatch` (an
  ``AssertionError`` carrying ``.report``) when a gradient is wrong.
* ``gradient_oracle`` — an :class:`Oracle` with ``check`` (returns the report) and
  ``assert_match``.

Options: ``--rnn-oracle-cases N``, ``--rnn-oracle-seed S``, ``--rnn-oracle-dtype D``
(defaults for calls that do not say), ``--rnn-oracle-json DIR`` (write the report of every
failing check there as JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rnn_oracle.oracle.check import GradientMismatch, check_gradients
from rnn_oracle.oracle.report import GradientReport


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-oracle", "RNN gradient oracle")
    group.addoption("--rnn-oracle-cases", type=int, default=None,
                    help="random cases per gradient check (default: the call's, else 3)")
    group.addoption("--rnn-oracle-seed", type=int, default=None,
                    help="seed of the first case (default: the call's, else 0)")
    group.addoption("--rnn-oracle-dtype", choices=("float64", "float32"), default=None,
                    help="dtype of the arrays (default: the call's, else float64)")
    group.addoption("--rnn-oracle-json", default=None, metavar="DIR",
                    help="write the JSON report of every failing check to DIR")


class Oracle:
    """The oracle with a test session's defaults; what the fixtures hand out."""

    def __init__(self, defaults: dict[str, Any], json_dir: str | None, test_name: str) -> None:
        self.defaults = defaults
        self.json_dir = json_dir
        self.test_name = test_name
        self.reports: list[GradientReport] = []

    def check(self, target: Any, **options: Any) -> GradientReport:
        """:func:`rnn_oracle.check_gradients` with the session's defaults."""
        report = check_gradients(target, **{**self.defaults, **options})
        self.reports.append(report)
        if not report.passed and self.json_dir is not None:
            folder = Path(self.json_dir)
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.test_name)
            path = folder / f"{stem}-{len(self.reports)}.json"
            path.write_text(report.to_json(), encoding="utf-8")
        return report

    def assert_match(self, target: Any, **options: Any) -> GradientReport:
        """Like :meth:`check`, raising :class:`GradientMismatch` on any wrong gradient."""
        report = self.check(target, **options)
        if not report.passed:
            raise GradientMismatch(report)
        return report


def _defaults(config: pytest.Config) -> dict[str, Any]:
    options = {
        "cases": config.getoption("--rnn-oracle-cases"),
        "seed": config.getoption("--rnn-oracle-seed"),
        "dtype": config.getoption("--rnn-oracle-dtype"),
    }
    return {k: v for k, v in options.items() if v is not None}


@pytest.fixture
def gradient_oracle(request: pytest.FixtureRequest) -> Oracle:
    """An :class:`Oracle` using the ``--rnn-oracle-*`` options as defaults."""
    config = request.config
    return Oracle(_defaults(config), config.getoption("--rnn-oracle-json"), request.node.name)


@pytest.fixture
def assert_gradients_match(gradient_oracle: Oracle) -> Callable[..., GradientReport]:
    """``assert_gradients_match(target, convention=..., **options)`` for this test."""
    return gradient_oracle.assert_match


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, GradientMismatch):
        report: GradientReport = call.excinfo.value.report
        # Machine-readable: JUnit XML carries user properties.
        item.user_properties.append(("rnn_oracle_causes", report.causes))
        outcome.get_result().sections.append(("rnn-oracle", report.summary))
